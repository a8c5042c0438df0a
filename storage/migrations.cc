#include "storage/migrations.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <exception>
#include <string_view>

#include "storage/embedded_migrations.h"

namespace turnpike::storage {

namespace {

// "0001_initial.sql" -> {1, "initial"}; false for anything else, which is then not a migration.
bool parseMigrationFileName(std::string_view path, int64_t& version, std::string& name) {
  constexpr std::string_view kSuffix = ".sql";
  if (auto slash = path.rfind('/'); slash != std::string_view::npos) path.remove_prefix(slash + 1);
  if (path.size() <= kSuffix.size() || !path.ends_with(kSuffix)) return false;
  path.remove_suffix(kSuffix.size());
  const auto underscore = path.find('_');
  if (underscore == 0 || underscore == std::string_view::npos || underscore + 1 == path.size()) {
    return false;
  }
  const std::string_view digits = path.substr(0, underscore);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
  if (ec != std::errc() || end != digits.data() + digits.size() || version <= 0) return false;
  name = std::string(path.substr(underscore + 1));
  return true;
}

int64_t appliedVersion(SQLite::Database& db) {
  SQLite::Statement q(db, "SELECT coalesce(max(version), 0) FROM schema_migrations");
  q.executeStep();
  return q.getColumn(0).getInt64();
}

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::vector<Migration> embeddedMigrations() {
  std::vector<Migration> out;
  for (std::size_t i = 0; i < kEmbeddedMigrations_count; ++i) {
    const EmbeddedFile& f = kEmbeddedMigrations[i];
    Migration m;
    if (!parseMigrationFileName(f.path, m.version, m.name)) continue;
    m.sql.assign(f.data, f.size);
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  return out;
}

model::Result<MigrationReport> migrate(SQLite::Database& db,
                                       const std::vector<Migration>& migrations) {
  try {
    db.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL,"
        " applied_at INTEGER NOT NULL)");

    int64_t newest_known = 0;
    for (const Migration& m : migrations) newest_known = std::max(newest_known, m.version);

    MigrationReport report;
    report.from_version = appliedVersion(db);
    report.to_version = report.from_version;
    if (report.from_version > newest_known) {
      return model::Error::internal("database schema version " +
                                    std::to_string(report.from_version) +
                                    " is newer than this turnpike binary supports (" +
                                    std::to_string(newest_known) + "); upgrade turnpike");
    }

    std::vector<const Migration*> ordered;
    for (const Migration& m : migrations) ordered.push_back(&m);
    std::sort(ordered.begin(), ordered.end(),
              [](const Migration* a, const Migration* b) { return a->version < b->version; });

    for (const Migration* m : ordered) {
      if (m->version <= report.to_version) continue;
      // IMMEDIATE takes the write lock up front, so two processes opening a fresh file at once
      // serialize here; the re-check below then skips what the other one already applied.
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      const int64_t applied = appliedVersion(db);
      if (m->version <= applied) {
        report.to_version = applied;
        continue;
      }
      db.exec(m->sql);
      SQLite::Statement record(
          db, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
      record.bind(1, m->version);
      record.bind(2, m->name);
      record.bind(3, nowSeconds());
      record.exec();
      tx.commit();
      report.to_version = m->version;
      report.applied.push_back(m->name);
    }
    return report;
  } catch (const SQLite::Exception& e) {
    return model::Error::internal(std::string("database migration failed: ") + e.what());
  } catch (const std::exception& e) {
    return model::Error::internal(std::string("database migration failed: ") + e.what());
  }
}

}  // namespace turnpike::storage
