#include "admin/ui_assets.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "admin/embedded_ui.h"
#include "admin/problem.h"
#include "model/api_key.h"

namespace turnpike::admin {
namespace {

constexpr std::string_view kUiPrefix = "/ui/";

// A strong validator: the first 128 bits of the body's SHA-256, quoted.
std::string etagOf(std::string_view body) {
  return "\"" + model::sha256Hex(body).substr(0, 32) + "\"";
}

struct EmbeddedEntry {
  std::string_view body;
  std::string etag;
};

// The embedded files by relative path, with their ETags computed once.
const std::unordered_map<std::string, EmbeddedEntry>& embeddedFiles() {
  static const auto* files = [] {
    auto* map = new std::unordered_map<std::string, EmbeddedEntry>();
    for (std::size_t i = 0; i < kEmbeddedUi_count; ++i) {
      std::string_view body(kEmbeddedUi[i].data, kEmbeddedUi[i].size);
      map->emplace(kEmbeddedUi[i].path, EmbeddedEntry{body, etagOf(body)});
    }
    return map;
  }();
  return *files;
}

// The file a UI path names ("/" -> "index.html", "/ui/js/app.js" -> "js/app.js"), or nullopt
// when the path could leave the UI's folder or names no file: empty, "." or ".." segments, a
// backslash or a NUL.
std::optional<std::string> relativePathOf(std::string_view path) {
  if (path == "/" || path == "/ui" || path == kUiPrefix) return "index.html";
  path.remove_prefix(kUiPrefix.size());
  if (path.find('\\') != std::string_view::npos || path.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view segment = path.substr(start, slash - start);
    if (segment.empty() || segment == "." || segment == "..") return std::nullopt;
    start = slash + 1;
  }
  return std::string(path);
}

// True when If-None-Match lists `etag` (or is "*"), per RFC 9110 §13.1.2's weak comparison.
bool matchesIfNoneMatch(const std::string& header, const std::string& etag) {
  std::size_t start = 0;
  while (start < header.size()) {
    std::size_t comma = header.find(',', start);
    if (comma == std::string::npos) comma = header.size();
    std::string_view item(header.data() + start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item == "*" || item == etag) return true;
    start = comma + 1;
  }
  return false;
}

void addSecurityHeaders(HttpResponse& response) {
  response.setHeader("Content-Security-Policy", std::string(UiAssets::kContentSecurityPolicy));
  response.setHeader("X-Frame-Options", "DENY");
  response.setHeader("X-Content-Type-Options", "nosniff");
  response.setHeader("Referrer-Policy", "no-referrer");
}

}  // namespace

UiAssets UiAssets::embedded() { return UiAssets(std::nullopt); }

UiAssets UiAssets::fromDirectory(std::string directory) { return UiAssets(std::move(directory)); }

std::vector<std::string> UiAssets::embeddedFileNames() {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < kEmbeddedUi_count; ++i) names.emplace_back(kEmbeddedUi[i].path);
  std::sort(names.begin(), names.end());
  return names;
}

bool UiAssets::isUiPath(std::string_view path) {
  return path == "/" || path == "/ui" || path.starts_with(kUiPrefix);
}

std::string_view UiAssets::contentTypeOf(std::string_view file_name) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [extension, type] : kTypes) {
    if (file_name.ends_with(extension)) return type;
  }
  return "application/octet-stream";
}

std::optional<std::string> UiAssets::read(const std::string& relative) const {
  if (!directory_) {
    const auto& files = embeddedFiles();
    auto it = files.find(relative);
    if (it == files.end()) return std::nullopt;
    return std::string(it->second.body);
  }
  std::filesystem::path file = std::filesystem::path(*directory_) / relative;
  std::error_code error;
  if (!std::filesystem::is_regular_file(file, error)) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(bytes).str();
}

HttpResponse UiAssets::serve(const HttpRequest& request) const {
  if (request.method != "GET") {
    HttpResponse response = problem(405, request.method + " is not allowed on the web UI's files");
    response.setHeader("Allow", "GET");
    return response;
  }
  std::optional<std::string> relative = relativePathOf(request.path);
  std::optional<std::string> body = relative ? read(*relative) : std::nullopt;
  if (!body) return problem(404, "no such file in the web UI: " + request.path);

  std::string etag;
  if (!directory_) {
    etag = embeddedFiles().at(*relative).etag;
  } else {
    etag = etagOf(*body);
  }
  HttpResponse response;
  response.setHeader("ETag", etag);
  response.setHeader("Cache-Control", "no-cache");
  addSecurityHeaders(response);
  const std::string* if_none_match = request.header("if-none-match");
  if (if_none_match != nullptr && matchesIfNoneMatch(*if_none_match, etag)) {
    response.status = 304;
    return response;
  }
  response.status = 200;
  response.setHeader("Content-Type", std::string(contentTypeOf(*relative)));
  response.body = std::move(*body);
  return response;
}

}  // namespace turnpike::admin
