// The schema migrations embedded in the binary (migrations/NNNN_name.sql), and the runner.
//
// Each migration is applied in its own transaction and recorded in schema_migrations
// (version, name, applied_at). A database that records a version this binary does not know is
// refused with a message naming both versions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/result.h"

namespace SQLite {
class Database;
}

namespace turnpike::storage {

struct EmbeddedFile {
  const char* path;  // "0001_initial.sql"
  const char* data;
  std::size_t size;
};

struct Migration {
  int64_t version;  // NNNN
  std::string name;
  std::string sql;
};

// The embedded migrations, sorted by version.
std::vector<Migration> embeddedMigrations();

struct MigrationReport {
  int64_t from_version = 0;
  int64_t to_version = 0;
  std::vector<std::string> applied;  // names, in order
};

model::Result<MigrationReport> migrate(SQLite::Database& db,
                                       const std::vector<Migration>& migrations);

}  // namespace turnpike::storage
