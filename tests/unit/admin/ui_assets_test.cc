// The web UI as the admin API serves it: which paths, which headers, and that the embedded page
// is whole (every file it loads is there).
#include "admin/ui_assets.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "admin_test_util.h"

namespace turnpike::admin {
namespace {

using testing::ApiFixture;
using testing::headerOr;
using testing::makeRequest;
using testing::TempDir;

HttpResponse get(const UiAssets& ui, const std::string& path,
                 std::map<std::string, std::string> headers = {}) {
  return ui.serve(makeRequest("GET", path, "", std::move(headers)));
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

TEST(UiAssetsTest, ServesTheIndexAtRootAndUnderUi) {
  UiAssets ui = UiAssets::embedded();
  for (const char* path : {"/", "/ui", "/ui/", "/ui/index.html"}) {
    HttpResponse response = get(ui, path);
    EXPECT_EQ(response.status, 200) << path;
    EXPECT_EQ(headerOr(response, "Content-Type"), "text/html; charset=utf-8") << path;
    EXPECT_NE(response.body.find("<script type=\"module\" src=\"/ui/js/app.js\">"),
              std::string::npos)
        << path;
  }
}

TEST(UiAssetsTest, EveryResponseLocksThePageDown) {
  UiAssets ui = UiAssets::embedded();
  for (const char* path : {"/", "/ui/js/app.js", "/ui/app.css"}) {
    HttpResponse response = get(ui, path);
    ASSERT_EQ(response.status, 200) << path;
    EXPECT_EQ(headerOr(response, "Content-Security-Policy"), UiAssets::kContentSecurityPolicy);
    EXPECT_EQ(headerOr(response, "X-Frame-Options"), "DENY");
    EXPECT_EQ(headerOr(response, "X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(headerOr(response, "Referrer-Policy"), "no-referrer");
    EXPECT_EQ(headerOr(response, "Cache-Control"), "no-cache");
  }
  // No inline code is allowed, so no page may need it.
  const std::string csp(UiAssets::kContentSecurityPolicy);
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
}

TEST(UiAssetsTest, ContentTypesFollowTheExtension) {
  EXPECT_EQ(UiAssets::contentTypeOf("js/app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(UiAssets::contentTypeOf("app.css"), "text/css; charset=utf-8");
  EXPECT_EQ(UiAssets::contentTypeOf("favicon.svg"), "image/svg+xml");
  EXPECT_EQ(UiAssets::contentTypeOf("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(UiAssets::contentTypeOf("blob.bin"), "application/octet-stream");
  // Browsers refuse module scripts served as anything but JavaScript (nosniff).
  EXPECT_EQ(headerOr(get(UiAssets::embedded(), "/ui/js/api.js"), "Content-Type"),
            "text/javascript; charset=utf-8");
}

TEST(UiAssetsTest, RevalidationAnswers304WithTheSameETag) {
  UiAssets ui = UiAssets::embedded();
  HttpResponse first = get(ui, "/ui/js/app.js");
  std::string etag = headerOr(first, "ETag");
  ASSERT_FALSE(etag.empty());
  HttpResponse again = get(ui, "/ui/js/app.js", {{"if-none-match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(headerOr(again, "ETag"), etag);
  EXPECT_EQ(get(ui, "/ui/js/app.js", {{"if-none-match", "\"stale\", W/" + etag}}).status, 304);
  EXPECT_EQ(get(ui, "/ui/js/app.js", {{"if-none-match", "\"stale\""}}).status, 200);
  // Another file has another validator.
  EXPECT_NE(headerOr(get(ui, "/ui/js/api.js"), "ETag"), etag);
}

TEST(UiAssetsTest, UnknownFilesAndOtherMethodsAreRefused) {
  UiAssets ui = UiAssets::embedded();
  EXPECT_EQ(get(ui, "/ui/missing.js").status, 404);
  EXPECT_EQ(get(ui, "/ui/js/").status, 404);
  HttpResponse post = ui.serve(makeRequest("POST", "/ui/js/app.js", "x", {}));
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(headerOr(post, "Allow"), "GET");
}

// Every module the page loads, and every module they import, is in the binary: a missing file
// would leave an operator with a blank page.
TEST(UiAssetsTest, EveryFileThePageLoadsIsEmbedded) {
  UiAssets ui = UiAssets::embedded();
  std::vector<std::string> names = UiAssets::embeddedFileNames();
  std::set<std::string> embedded(names.begin(), names.end());
  ASSERT_TRUE(embedded.count("index.html"));

  std::string index = get(ui, "/").body;
  std::regex asset(R"((?:src|href)="/ui/([^"]+)\")");
  int references = 0;
  for (std::sregex_iterator it(index.begin(), index.end(), asset), end; it != end; ++it) {
    EXPECT_TRUE(embedded.count((*it)[1].str())) << "index.html loads /ui/" << (*it)[1].str();
    ++references;
  }
  EXPECT_GE(references, 2);  // at least the stylesheet and the app module

  // `import ... from './x.js'` and `import './x.js'`, resolved against the importing file.
  std::regex import_re(R"(import\s+(?:[^'";]*?\s+from\s+)?['"](\.{1,2}/[^'"]+)['"])");
  for (const std::string& name : names) {
    if (!name.ends_with(".js")) continue;
    std::string source = get(ui, "/ui/" + name).body;
    std::filesystem::path base = std::filesystem::path(name).parent_path();
    for (std::sregex_iterator it(source.begin(), source.end(), import_re), end; it != end; ++it) {
      std::string target = (base / (*it)[1].str()).lexically_normal().string();
      EXPECT_TRUE(embedded.count(target)) << name << " imports " << (*it)[1].str();
    }
  }
}

TEST(UiAssetsTest, ADirectoryIsReadOnEveryRequestAndNeverLeft) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("ui/js"));
  writeFile(dir.file("ui/index.html"), "<p>one</p>");
  writeFile(dir.file("secret.txt"), "not for the web");
  UiAssets ui = UiAssets::fromDirectory(dir.file("ui"));

  HttpResponse first = get(ui, "/");
  EXPECT_EQ(first.body, "<p>one</p>");
  writeFile(dir.file("ui/index.html"), "<p>two</p>");
  HttpResponse second = get(ui, "/ui/");
  EXPECT_EQ(second.body, "<p>two</p>");
  EXPECT_NE(headerOr(first, "ETag"), headerOr(second, "ETag"));

  for (const char* path : {"/ui/../secret.txt", "/ui/js/../../secret.txt", "/ui//secret.txt",
                           "/ui/./index.html", "/ui/js", "/ui/..\\secret.txt"}) {
    EXPECT_EQ(get(ui, path).status, 404) << path;
  }
}

class UiThroughApiTest : public ApiFixture {};

TEST_F(UiThroughApiTest, ThePageNeedsNoTokenButTheApiStillDoes) {
  HttpResponse page = sendAnonymous("GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(headerOr(page, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(sendAnonymous("GET", "/ui/js/app.js").status, 200);
  EXPECT_EQ(sendAnonymous("GET", "/services").status, 401);
  EXPECT_EQ(sendAnonymous("GET", "/index.html").status, 401);
  EXPECT_EQ(sendAnonymous("GET", "/uix").status, 401);
}

}  // namespace
}  // namespace turnpike::admin
