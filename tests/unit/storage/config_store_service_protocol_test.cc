// Services' protocol and idle_timeout_ms in the store: kept by every write path, carried by
// export, import, history and restore, and rows written before the fields existed (their JSON
// documents lack them) read back with the defaults and import as unchanged.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "model/config.h"
#include "model/service.h"
#include "storage/config_store.h"
#include "tests/unit/storage/storage_test_util.h"

namespace turnpike::storage {
namespace {

using model::Service;
using model::ServiceProtocol;
using nlohmann::json;

class ServiceProtocolStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = ConfigStore::open(dir_.file("turnpike.db"), nullptr);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
  }

  // A service parsed from its API form, as the admin API hands it to the store.
  static Service parsedService(const std::string& name, const json& fields) {
    json body = {{"name", name}, {"targets", {{{"url", "http://10.0.0.5:8080"}}}}};
    body.update(fields);
    auto r = model::parseService(body);
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    return r ? *r : Service{};
  }

  int64_t storeVersion() {
    auto v = store_->version();
    return v ? *v : -1;
  }

  // What the store holds after a binary from before these fields wrote it: every service
  // document and every history document without them.
  void dropTheFieldsFromEveryStoredDocument() {
    SQLite::Database db(dir_.file("turnpike.db"), SQLite::OPEN_READWRITE);
    db.exec("UPDATE services SET doc = json_remove(doc, '$.protocol', '$.idle_timeout_ms')");
    db.exec(
        "UPDATE history_changes SET "
        "before = CASE WHEN before IS NULL THEN NULL "
        "ELSE json_remove(before, '$.protocol', '$.idle_timeout_ms') END, "
        "after = CASE WHEN after IS NULL THEN NULL "
        "ELSE json_remove(after, '$.protocol', '$.idle_timeout_ms') END "
        "WHERE entity_type = 'service'");
    SQLite::Statement q(db,
                        "SELECT count(*) FROM services WHERE json_type(doc, '$.protocol') "
                        "IS NOT NULL OR json_type(doc, '$.idle_timeout_ms') IS NOT NULL");
    ASSERT_TRUE(q.executeStep());
    ASSERT_EQ(q.getColumn(0).getInt(), 0);
  }

  testing::TempDir dir_;
  std::unique_ptr<ConfigStore> store_;
};

TEST_F(ServiceProtocolStoreTest, EveryWriteKeepsTheFields) {
  auto created = store_->create(
      parsedService("orders", {{"protocol", "http1"}, {"idle_timeout_ms", 1500}}), {});
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(created->entity.protocol, ServiceProtocol::kHttp1);
  EXPECT_EQ(created->entity.idle_timeout_ms, 1500);
  auto got = store_->get<Service>("orders");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, created->entity);

  auto put = store_->put("orders", parsedService("orders", {{"idle_timeout_ms", 86400000}}), {});
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_EQ(store_->get<Service>("orders")->idle_timeout_ms, 86400000);

  // Left out, the field goes back to its default: a PUT replaces the whole service.
  ASSERT_TRUE(store_->put("orders", parsedService("orders", json::object()), {}).ok());
  EXPECT_EQ(store_->get<Service>("orders")->idle_timeout_ms, 60000);

  ASSERT_TRUE(store_->create(parsedService("billing", {{"idle_timeout_ms", 1}}), {}).ok());
  auto page = store_->list<Service>({});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->data.size(), 2u);
  EXPECT_EQ(page->data[1].idle_timeout_ms, 1);
}

TEST_F(ServiceProtocolStoreTest, ExportImportHistoryAndRestoreCarryTheFields) {
  ASSERT_TRUE(store_->create(parsedService("orders", {{"idle_timeout_ms", 1500}}), {}).ok());
  const int64_t first = storeVersion();
  ASSERT_TRUE(store_->put("orders", parsedService("orders", {{"idle_timeout_ms", 9000}}), {}).ok());

  auto entry = store_->historyEntry(storeVersion());
  ASSERT_TRUE(entry.ok());
  ASSERT_EQ(entry->changes.size(), 1u);
  EXPECT_EQ(entry->changes[0].before["idle_timeout_ms"], 1500);
  EXPECT_EQ(entry->changes[0].after["idle_timeout_ms"], 9000);
  EXPECT_EQ(entry->changes[0].after["protocol"], "http1");

  auto exported = store_->loadConfig();
  ASSERT_TRUE(exported.ok());
  const json document = model::toJson(*exported);
  EXPECT_EQ(document["services"][0]["protocol"], "http1");
  EXPECT_EQ(document["services"][0]["idle_timeout_ms"], 9000);
  auto parsed = model::parseConfig(document);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const int64_t before_import = storeVersion();
  auto imported = store_->replaceConfig(*parsed, {}, /*dry_run=*/false);
  ASSERT_TRUE(imported.ok()) << imported.error().message;
  EXPECT_TRUE(imported->changes.empty());
  EXPECT_EQ(storeVersion(), before_import);

  // An import that changes only the idle timeout is a change of that service.
  model::Config changed = *parsed;
  changed.services[0].idle_timeout_ms = 2500;
  auto updated = store_->replaceConfig(changed, {}, /*dry_run=*/false);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  ASSERT_EQ(updated->changes.size(), 1u);
  EXPECT_EQ(updated->changes[0].after["idle_timeout_ms"], 2500);

  auto at_first = store_->configAt(first);
  ASSERT_TRUE(at_first.ok()) << at_first.error().message;
  ASSERT_EQ(at_first->services.size(), 1u);
  EXPECT_EQ(at_first->services[0].idle_timeout_ms, 1500);
  auto restored = store_->restore(first, {});
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(store_->get<Service>("orders")->idle_timeout_ms, 1500);
}

TEST_F(ServiceProtocolStoreTest, RowsWrittenBeforeTheFieldsReadBackWithTheDefaults) {
  ASSERT_TRUE(store_->create(parsedService("orders", {{"retries", 1}}), {}).ok());
  const int64_t old_version = storeVersion();
  ASSERT_TRUE(store_->create(parsedService("billing", json::object()), {}).ok());
  dropTheFieldsFromEveryStoredDocument();

  // A store opened afresh on the old file, as after an upgrade.
  store_.reset();
  auto reopened = ConfigStore::open(dir_.file("turnpike.db"), nullptr);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  store_ = std::move(*reopened);

  auto orders = store_->get<Service>("orders");
  ASSERT_TRUE(orders.ok()) << orders.error().message;
  EXPECT_EQ(orders->protocol, ServiceProtocol::kHttp1);
  EXPECT_EQ(orders->idle_timeout_ms, 60000);
  EXPECT_EQ(orders->retries, 1);
  auto loaded = store_->loadConfig();
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  ASSERT_EQ(loaded->services.size(), 2u);
  for (const Service& s : loaded->services) {
    EXPECT_EQ(s.protocol, ServiceProtocol::kHttp1) << s.name;
    EXPECT_EQ(s.idle_timeout_ms, 60000) << s.name;
  }

  // Exporting and importing it back changes nothing: the defaults equal what is stored.
  auto parsed = model::parseConfig(model::toJson(*loaded));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const int64_t before_import = storeVersion();
  auto imported = store_->replaceConfig(*parsed, {}, /*dry_run=*/false);
  ASSERT_TRUE(imported.ok()) << imported.error().message;
  EXPECT_TRUE(imported->changes.empty());
  EXPECT_EQ(storeVersion(), before_import);

  // The old history reconstructs and restores with the defaults, and a new write records them.
  auto at_old = store_->configAt(old_version);
  ASSERT_TRUE(at_old.ok()) << at_old.error().message;
  ASSERT_EQ(at_old->services.size(), 1u);
  EXPECT_EQ(at_old->services[0].idle_timeout_ms, 60000);
  ASSERT_TRUE(store_->put("orders", parsedService("orders", {{"idle_timeout_ms", 5000}}), {}).ok());
  auto entry = store_->historyEntry(storeVersion());
  ASSERT_TRUE(entry.ok());
  ASSERT_EQ(entry->changes.size(), 1u);
  EXPECT_EQ(entry->changes[0].before["idle_timeout_ms"], 60000);
  EXPECT_EQ(entry->changes[0].after["idle_timeout_ms"], 5000);
  auto restored = store_->restore(old_version, {});
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  auto back = store_->get<Service>("orders");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->idle_timeout_ms, 60000);
  EXPECT_EQ(back->protocol, ServiceProtocol::kHttp1);
  EXPECT_FALSE(store_->get<Service>("billing").ok()) << "created after the restored version";
}

}  // namespace
}  // namespace turnpike::storage
