#include "storage/migrations.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "storage/config_store.h"
#include "tests/unit/storage/storage_test_util.h"

namespace turnpike::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TempDir;

bool tableExists(SQLite::Database& db, const std::string& name) {
  SQLite::Statement q(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?");
  q.bind(1, name);
  return q.executeStep();
}

int64_t schemaVersion(SQLite::Database& db) {
  return db.execAndGet("SELECT coalesce(max(version), 0) FROM schema_migrations").getInt64();
}

class MigrationsTest : public ::testing::Test {
 protected:
  SQLite::Database openRaw() {
    return SQLite::Database(dir_.file("t.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  }
  TempDir dir_;
};

TEST(EmbeddedMigrationsTest, AreSortedNamedAndNonEmpty) {
  std::vector<Migration> migrations = embeddedMigrations();
  ASSERT_FALSE(migrations.empty());
  EXPECT_EQ(migrations.front().version, 1);
  EXPECT_EQ(migrations.front().name, "initial");
  for (size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_FALSE(migrations[i].sql.empty());
    if (i > 0) {
      EXPECT_LT(migrations[i - 1].version, migrations[i].version);
    }
  }
}

TEST_F(MigrationsTest, FromEmptyCreatesTheSchemaAndRecordsTheVersion) {
  SQLite::Database db = openRaw();
  auto report = migrate(db, embeddedMigrations());
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->from_version, 0);
  EXPECT_EQ(report->to_version, 2);
  EXPECT_THAT(report->applied, ElementsAre("initial", "certificates"));

  for (const char* table :
       {"meta", "services", "routes", "consumers", "rate_limit_policies", "route_policies",
        "consumer_policies", "api_keys", "history", "history_changes", "schema_migrations",
        "certificates", "certificate_snis"}) {
    EXPECT_TRUE(tableExists(db, table)) << table;
  }
  SQLite::Statement q(db, "SELECT version, name, applied_at FROM schema_migrations");
  ASSERT_TRUE(q.executeStep());
  EXPECT_EQ(q.getColumn(0).getInt64(), 1);
  EXPECT_EQ(q.getColumn(1).getString(), "initial");
  EXPECT_GT(q.getColumn(2).getInt64(), 0);
  EXPECT_EQ(db.execAndGet("SELECT value FROM meta WHERE key = 'config_version'").getInt64(), 0);
}

TEST_F(MigrationsTest, RunningAgainIsANoOp) {
  SQLite::Database db = openRaw();
  ASSERT_TRUE(migrate(db, embeddedMigrations()).ok());
  auto again = migrate(db, embeddedMigrations());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->from_version, 2);
  EXPECT_EQ(again->to_version, 2);
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM schema_migrations").getInt64(), 2);
}

TEST_F(MigrationsTest, AppliesOnlyPendingMigrationsInVersionOrder) {
  SQLite::Database db = openRaw();
  std::vector<Migration> migrations = {{2, "second", "CREATE TABLE b (x INTEGER);"},
                                       {1, "first", "CREATE TABLE a (x INTEGER);"}};
  auto first = migrate(db, migrations);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_THAT(first->applied, ElementsAre("first", "second"));

  migrations.push_back({3, "third", "ALTER TABLE a ADD COLUMN y TEXT;"});
  auto second = migrate(db, migrations);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->from_version, 2);
  EXPECT_EQ(second->to_version, 3);
  EXPECT_THAT(second->applied, ElementsAre("third"));
}

TEST_F(MigrationsTest, AFailingMigrationRollsBackAndKeepsTheEarlierOnes) {
  SQLite::Database db = openRaw();
  std::vector<Migration> migrations = {
      {1, "good", "CREATE TABLE a (x INTEGER);"},
      {2, "bad", "CREATE TABLE b (x INTEGER); INSERT INTO no_such_table VALUES (1);"}};
  auto report = migrate(db, migrations);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, model::ErrorCode::kInternal);
  EXPECT_THAT(report.error().message, HasSubstr("no_such_table"));
  EXPECT_EQ(schemaVersion(db), 1);
  EXPECT_TRUE(tableExists(db, "a"));
  EXPECT_FALSE(tableExists(db, "b"));  // the failed migration's first statement is undone too
}

TEST_F(MigrationsTest, RefusesADatabaseFromANewerTurnpike) {
  {
    auto store = ConfigStore::open(dir_.file("t.db"), nullptr);
    ASSERT_TRUE(store.ok()) << store.error().message;
  }
  {
    SQLite::Database db = openRaw();
    db.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (7, 'future', 0)");
  }
  auto store = ConfigStore::open(dir_.file("t.db"), nullptr);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, model::ErrorCode::kInternal);
  EXPECT_EQ(store.error().message,
            "database schema version 7 is newer than this turnpike binary supports (2); "
            "upgrade turnpike");
}

TEST_F(MigrationsTest, ReopeningAStoreKeepsItsDataAndAppliesNothing) {
  {
    auto store = ConfigStore::open(dir_.file("t.db"), nullptr);
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_TRUE((*store)->create(testing::makeService("orders"), {}).ok());
  }
  auto store = ConfigStore::open(dir_.file("t.db"), nullptr);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto version = (*store)->version();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, 1);
  EXPECT_TRUE((*store)->get<model::Service>("orders").ok());
  SQLite::Database db = openRaw();
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM schema_migrations").getInt64(), 2);
}

TEST_F(MigrationsTest, OpenPutsTheFileInWalMode) {
  auto store = ConfigStore::open(dir_.file("t.db"), nullptr);
  ASSERT_TRUE(store.ok()) << store.error().message;
  SQLite::Database db = openRaw();
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST_F(MigrationsTest, OpenReportsAnUnusableFileAsAnError) {
  auto store = ConfigStore::open(dir_.file("missing-dir/t.db"), nullptr);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, model::ErrorCode::kInternal);
}

}  // namespace
}  // namespace turnpike::storage
