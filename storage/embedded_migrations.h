// The migration files embedded at build time (cmake/Embed.cmake writes their definitions into
// a generated source that includes this header). Private to storage/.
//
// The declarations must be visible to the generated definitions: a namespace-scope `const`
// array defined without a prior `extern` declaration has internal linkage, and the runner in
// migrations.cc would not link against it.
#pragma once

#include <cstddef>

#include "storage/migrations.h"

namespace turnpike::storage {

extern const EmbeddedFile kEmbeddedMigrations[];
extern const std::size_t kEmbeddedMigrations_count;

}  // namespace turnpike::storage
