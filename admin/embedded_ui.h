// The web UI's files embedded at build time (cmake/Embed.cmake writes their definitions into a
// generated source that includes this header). Private to admin/ (UiAssets serves them).
#pragma once

#include <cstddef>

namespace turnpike::admin {

struct EmbeddedFile {
  const char* path;  // relative to web-ui/: "js/app.js"
  const char* data;
  std::size_t size;
};

extern const EmbeddedFile kEmbeddedUi[];
extern const std::size_t kEmbeddedUi_count;

}  // namespace turnpike::admin
