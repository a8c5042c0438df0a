// The web UI's files through the real binary's admin listener: served without the token, with
// the headers that lock the pages down, and revalidated with 304 over the socket.
#include <gtest/gtest.h>

#include "tests/support/admin_fixture.h"

namespace turnpike::test_support {
namespace {

class AdminUiTest : public AdminSuiteTest {};

TEST_F(AdminUiTest, TheUiIsServedWithoutTheTokenAndLockedDown) {
  HttpClient anonymous("127.0.0.1", process().adminPort());
  for (const char* path : {"/", "/ui/"}) {
    Response page = anonymous.get(path);
    ASSERT_EQ(page.status, 200) << page;
    EXPECT_EQ(page.headerOr("Content-Type"), "text/html; charset=utf-8");
    EXPECT_NE(page.body.find("/ui/js/app.js"), std::string::npos);
    EXPECT_NE(page.headerOr("Content-Security-Policy").find("script-src 'self'"),
              std::string::npos);
    EXPECT_EQ(page.headerOr("X-Frame-Options"), "DENY");
    EXPECT_EQ(page.headerOr("X-Content-Type-Options"), "nosniff");
    EXPECT_FALSE(page.hasHeader("Access-Control-Allow-Origin"));
  }
  Response script = anonymous.get("/ui/js/app.js");
  ASSERT_EQ(script.status, 200) << script;
  EXPECT_EQ(script.headerOr("Content-Type"), "text/javascript; charset=utf-8");

  // The API behind it still wants the token.
  EXPECT_EQ(anonymous.get("/status").status, 401);
}

TEST_F(AdminUiTest, ACachedCopyIsRevalidatedWith304) {
  HttpClient anonymous("127.0.0.1", process().adminPort());
  Response first = anonymous.get("/ui/app.css");
  ASSERT_EQ(first.status, 200) << first;
  std::string etag = first.headerOr("ETag");
  ASSERT_FALSE(etag.empty());
  Response again = anonymous.get("/ui/app.css", {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304) << again;
  EXPECT_TRUE(again.body.empty());
  // The connection carries on after the bodiless answer.
  EXPECT_EQ(anonymous.get("/ui/app.css").status, 200);
}

TEST_F(AdminUiTest, UnknownFilesAre404AndWritesAre405) {
  HttpClient anonymous("127.0.0.1", process().adminPort());
  EXPECT_TRUE(isProblem(anonymous.get("/ui/no-such-file.js"), 404));
  Response post = anonymous.request("POST", "/ui/js/app.js", "{}");
  EXPECT_TRUE(isProblem(post, 405)) << post;
  EXPECT_EQ(post.headerOr("Allow"), "GET");
}

}  // namespace
}  // namespace turnpike::test_support
