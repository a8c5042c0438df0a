// UiAssets: the web UI's files (web-ui/), as the admin listener serves them at `/` and `/ui/…`.
//
// The files are embedded into the binary at build time (cmake/Embed.cmake); a UiAssets made with
// fromDirectory() reads them from disk on every request instead, so that UI work shows on reload
// without a rebuild (`turnpike serve --ui-dir web-ui`).
//
// serve() answers GET (other methods are 405) with the file's content type, an ETag (304 on
// If-None-Match), `Cache-Control: no-cache` (always revalidated: the names carry no version, and
// a new binary must not be shadowed by a cached old UI) and the headers that lock the pages down: a
// strict Content-Security-Policy (scripts, styles and fetches from this origin only, no inline
// code, no framing), X-Frame-Options: DENY, X-Content-Type-Options: nosniff, Referrer-Policy:
// no-referrer.
//
//   UiAssets ui = UiAssets::embedded();
//   if (UiAssets::isUiPath(request.path)) return ui.serve(request);
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/http_message.h"

namespace turnpike::admin {

class UiAssets {
 public:
  // The files built into this binary.
  static UiAssets embedded();
  // The files under `directory` (read per request; a missing file is a 404).
  static UiAssets fromDirectory(std::string directory);

  // The relative paths of the embedded files ("index.html", "js/app.js"), sorted.
  static std::vector<std::string> embeddedFileNames();

  // True for "/", "/ui" and "/ui/…": the paths the UI owns (served without the admin token).
  static bool isUiPath(std::string_view path);

  // The answer to a request for a UI path (see isUiPath()): the file, 304, 404 or 405.
  HttpResponse serve(const HttpRequest& request) const;

  // The content type served for a file name, by its extension ("app.js" -> "text/javascript;
  // charset=utf-8"); application/octet-stream when unknown.
  static std::string_view contentTypeOf(std::string_view file_name);

  // The Content-Security-Policy every UI file is served with.
  static constexpr std::string_view kContentSecurityPolicy =
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
      "base-uri 'none'";

 private:
  explicit UiAssets(std::optional<std::string> directory) : directory_(std::move(directory)) {}

  // The bytes of `relative` ("js/app.js"), or nullopt when there is no such file.
  std::optional<std::string> read(const std::string& relative) const;

  std::optional<std::string> directory_;  // nullopt: the embedded files
};

}  // namespace turnpike::admin
