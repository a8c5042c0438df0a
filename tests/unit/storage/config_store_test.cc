#include "storage/config_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "model/api_key.h"
#include "model/identity.h"
#include "tests/unit/storage/storage_test_util.h"

namespace turnpike::storage {
namespace {

using model::ApiKey;
using model::Consumer;
using model::ErrorCode;
using model::FieldError;
using model::RateLimitPolicy;
using model::Route;
using model::Service;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::makeConsumer;
using testing::makePolicy;
using testing::makeRoute;
using testing::makeService;
using testing::TempDir;

// GCC 12 warns (-Wmissing-field-initializers) on designated initializers that leave members
// out, so the tests build their options through these.
WriteOptions byActor(std::string actor) {
  WriteOptions o;
  o.actor = std::move(actor);
  return o;
}

WriteOptions ifMatch(std::string etag) {
  WriteOptions o;
  o.if_match = std::move(etag);
  return o;
}

ListQuery query(size_t size, std::string after = "", std::vector<std::string> tags = {}) {
  ListQuery q;
  q.size = size;
  q.after = std::move(after);
  q.tags = std::move(tags);
  return q;
}

ListQuery withTags(std::vector<std::string> tags) { return query(100, "", std::move(tags)); }

ApiKey makeKey(const std::string& plaintext) {
  ApiKey k;
  k.key_hash = model::sha256Hex(plaintext);
  k.prefix = model::keyPrefix(plaintext);
  return k;
}

class ConfigStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = ConfigStore::open(dir_.file("turnpike.db"), nullptr);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(*opened);
  }

  int64_t version() {
    auto v = store_->version();
    EXPECT_TRUE(v.ok());
    return v ? *v : -1;
  }

  int64_t historyRows() {
    SQLite::Database db(dir_.file("turnpike.db"));
    return db.execAndGet("SELECT count(*) FROM history").getInt64();
  }

  template <class T>
  T mustCreate(T entity) {
    auto r = store_->create(std::move(entity), {});
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    return r ? r->entity : T{};
  }

  model::Config load() {
    auto c = store_->loadConfig();
    EXPECT_TRUE(c.ok()) << (c ? "" : c.error().message);
    return c ? *c : model::Config{};
  }

  TempDir dir_;
  std::unique_ptr<ConfigStore> store_;
};

TEST_F(ConfigStoreTest, CreateThenGetByIdAndByName) {
  auto written = store_->create(makeService("orders", {"team-a"}), byActor("alice"));
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_TRUE(written->created);
  EXPECT_EQ(written->version, 1);
  const Service& s = written->entity;
  EXPECT_TRUE(model::isUuid(s.id));
  EXPECT_GT(s.created_at, 0);
  EXPECT_EQ(s.created_at, s.updated_at);

  auto by_id = store_->get<Service>(s.id);
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(*by_id, s);
  auto by_name = store_->get<Service>("orders");
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(*by_name, s);
}

TEST_F(ConfigStoreTest, CreateKeepsAGivenIdAndRefusesATakenOne) {
  Service s = makeService("orders");
  s.id = model::newUuid();
  EXPECT_EQ(mustCreate(s).id, s.id);

  Service again = makeService("billing");
  again.id = s.id;
  auto r = store_->create(again, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_THAT(r.error().fields, ElementsAre(FieldError{"id", "already exists"}));
}

TEST_F(ConfigStoreTest, NotFoundNamesTheEntity) {
  auto r = store_->get<Service>("nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message, "service 'nope' not found");
  auto d = store_->remove<Route>(model::newUuid(), {});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(version(), 0);
}

TEST_F(ConfigStoreTest, EachWriteBumpsTheVersionAndAppendsHistory) {
  Service s = mustCreate(makeService("orders"));
  Service changed = s;
  changed.retries = 5;
  auto put = store_->put("orders", changed, byActor("bob"));
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_FALSE(put->created);
  EXPECT_EQ(put->version, 2);
  auto del = store_->remove<Service>(s.id, byActor("carol"));
  ASSERT_TRUE(del.ok()) << del.error().message;
  EXPECT_EQ(del->version, 3);
  EXPECT_EQ(version(), 3);

  auto history = store_->history({});
  ASSERT_TRUE(history.ok()) << history.error().message;
  ASSERT_EQ(history->data.size(), 3u);
  EXPECT_FALSE(history->next);
  EXPECT_EQ(history->data[0].version, 3);
  EXPECT_EQ(history->data[0].action, "delete");
  EXPECT_EQ(history->data[0].actor, "carol");
  EXPECT_EQ(history->data[0].summary, "delete service orders");
  EXPECT_EQ(history->data[1].action, "update");
  EXPECT_EQ(history->data[1].actor, "bob");
  EXPECT_EQ(history->data[2].action, "create");
  EXPECT_EQ(history->data[2].summary, "create service orders");
  EXPECT_TRUE(history->data[2].changes.empty());  // only historyEntry() fills changes

  auto entry = store_->historyEntry(2);
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  ASSERT_EQ(entry->changes.size(), 1u);
  const Change& c = entry->changes[0];
  EXPECT_EQ(c.entity_type, "service");
  EXPECT_EQ(c.entity_id, s.id);
  EXPECT_EQ(c.before, model::toJson(s));
  EXPECT_EQ(c.after["retries"], 5);

  auto deleted = store_->historyEntry(3);
  ASSERT_TRUE(deleted.ok());
  ASSERT_EQ(deleted->changes.size(), 1u);
  EXPECT_TRUE(deleted->changes[0].after.is_null());

  auto missing = store_->historyEntry(4);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(ConfigStoreTest, HistoryPagesNewestFirst) {
  for (int i = 0; i < 5; ++i) mustCreate(makeService("s" + std::to_string(i)));
  auto first = store_->history(query(2));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->data.size(), 2u);
  EXPECT_EQ(first->data[0].version, 5);
  EXPECT_EQ(first->data[1].version, 4);
  ASSERT_TRUE(first->next);
  auto second = store_->history(query(2, *first->next));
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->data.size(), 2u);
  EXPECT_EQ(second->data[0].version, 3);
  auto last = store_->history(query(2, *second->next));
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->data.size(), 1u);
  EXPECT_EQ(last->data[0].version, 1);
  EXPECT_FALSE(last->next);
}

TEST_F(ConfigStoreTest, DuplicateNameIsAConflictAndChangesNothing) {
  mustCreate(makeService("orders"));
  auto r = store_->create(makeService("orders"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_THAT(r.error().fields, ElementsAre(FieldError{"name", "already exists"}));

  mustCreate(makeConsumer("acme"));
  auto c = store_->create(makeConsumer("acme"), {});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kConflict);
  EXPECT_THAT(c.error().fields, ElementsAre(FieldError{"username", "already exists"}));
  EXPECT_EQ(version(), 2);
}

TEST_F(ConfigStoreTest, RenamingOntoATakenNameIsAConflict) {
  mustCreate(makeService("orders"));
  Service billing = mustCreate(makeService("billing"));
  billing.name = "orders";
  auto r = store_->put(billing.id, billing, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_THAT(r.error().fields, ElementsAre(FieldError{"name", "already exists"}));
}

TEST_F(ConfigStoreTest, AFailedWriteChangesNothing) {
  auto r = store_->create(makeRoute("r1", "missing"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  ASSERT_EQ(r.error().fields.size(), 1u);
  EXPECT_EQ(r.error().fields[0].field, "service");
  EXPECT_EQ(version(), 0);
  EXPECT_EQ(historyRows(), 0);
  auto counts = store_->counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->routes, 0);

  mustCreate(makeService("orders"));
  mustCreate(makePolicy("gold"));
  auto p = store_->create(makeRoute("r1", "orders", {"gold", "silver"}), {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, ErrorCode::kInvalid);
  ASSERT_EQ(p.error().fields.size(), 1u);
  EXPECT_EQ(p.error().fields[0].field, "rate_limit_policies[1]");
  EXPECT_EQ(version(), 2);
  EXPECT_EQ(historyRows(), 2);
  EXPECT_EQ(store_->counts()->routes, 0);
}

TEST_F(ConfigStoreTest, ReferencesGivenByNameAreStoredAsIds) {
  Service s = mustCreate(makeService("orders"));
  RateLimitPolicy gold = mustCreate(makePolicy("gold"));
  Route r = mustCreate(makeRoute("orders-api", "orders", {"gold"}));
  EXPECT_EQ(r.service, s.id);
  EXPECT_THAT(r.rate_limit_policies, ElementsAre(gold.id));
  Consumer c = mustCreate(makeConsumer("acme", {gold.id}));
  EXPECT_THAT(c.rate_limit_policies, ElementsAre(gold.id));

  auto loaded = store_->get<Route>("orders-api");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->service, s.id);
}

TEST_F(ConfigStoreTest, DeletingWhatIsStillUsedIsRefusedNamingTheUsers) {
  mustCreate(makeService("orders"));
  mustCreate(makePolicy("gold"));
  mustCreate(makeRoute("a", "orders", {"gold"}));
  mustCreate(makeRoute("b", "orders"));
  mustCreate(makeConsumer("acme", {"gold"}));

  auto s = store_->remove<Service>("orders", {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(s.error().message, "service is used by routes: a, b");

  auto p = store_->remove<RateLimitPolicy>("gold", {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, ErrorCode::kInvalid);
  EXPECT_THAT(p.error().message, HasSubstr("routes: a"));
  EXPECT_THAT(p.error().message, HasSubstr("consumers: acme"));
  EXPECT_EQ(version(), 5);

  // Once nothing uses them, both go.
  ASSERT_TRUE(store_->remove<Route>("a", {}).ok());
  ASSERT_TRUE(store_->remove<Route>("b", {}).ok());
  ASSERT_TRUE(store_->remove<Service>("orders", {}).ok());
  ASSERT_TRUE(store_->remove<Consumer>("acme", {}).ok());
  ASSERT_TRUE(store_->remove<RateLimitPolicy>("gold", {}).ok());
}

TEST_F(ConfigStoreTest, IfMatchGuardsPutAndDelete) {
  Service s = mustCreate(makeService("orders"));
  const std::string etag = model::etagOf(model::toJson(s));
  Service changed = s;
  changed.retries = 7;

  auto stale = store_->put("orders", changed, ifMatch("\"stale\""));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::kPreconditionFailed);
  EXPECT_EQ(version(), 1);

  auto fresh = store_->put("orders", changed, ifMatch(etag));
  ASSERT_TRUE(fresh.ok()) << fresh.error().message;

  // The tag is now out of date.
  auto del = store_->remove<Service>("orders", ifMatch(etag));
  ASSERT_FALSE(del.ok());
  EXPECT_EQ(del.error().code, ErrorCode::kPreconditionFailed);
  auto del_ok =
      store_->remove<Service>("orders", ifMatch(model::etagOf(model::toJson(fresh->entity))));
  ASSERT_TRUE(del_ok.ok()) << del_ok.error().message;

  auto absent = store_->put("ghost", makeService("ghost"), ifMatch(etag));
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().code, ErrorCode::kPreconditionFailed);
}

TEST_F(ConfigStoreTest, PutCreatesWhenAbsentAndReplacesWhenPresent) {
  Service body = makeService("ignored");
  body.name.clear();  // the name comes from the address
  auto created = store_->put("orders", body, {});
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->entity.name, "orders");
  EXPECT_EQ(created->version, 1);

  Service replacement = makeService("orders", {}, "http://10.0.0.9:9090");
  auto replaced = store_->put("orders", replacement, {});
  ASSERT_TRUE(replaced.ok()) << replaced.error().message;
  EXPECT_FALSE(replaced->created);
  EXPECT_EQ(replaced->entity.id, created->entity.id);
  EXPECT_EQ(replaced->entity.created_at, created->entity.created_at);
  EXPECT_EQ(replaced->entity.targets[0].url, "http://10.0.0.9:9090");
  EXPECT_EQ(replaced->version, 2);

  // Same content again: nothing to commit, no new version.
  auto same = store_->put("orders", replacement, {});
  ASSERT_TRUE(same.ok()) << same.error().message;
  EXPECT_EQ(same->version, 2);
  EXPECT_EQ(version(), 2);

  // Addressed by a UUID that does not exist yet: created with that id.
  const std::string id = model::newUuid();
  auto by_id = store_->put(id, makeService("billing"), {});
  ASSERT_TRUE(by_id.ok()) << by_id.error().message;
  EXPECT_TRUE(by_id->created);
  EXPECT_EQ(by_id->entity.id, id);

  // A body naming another entity than the address.
  auto mismatch = store_->put("shipping", makeService("other"), {});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(mismatch.error().fields[0].field, "name");
  Service wrong_id = makeService("billing");
  wrong_id.id = model::newUuid();
  auto id_mismatch = store_->put(id, wrong_id, {});
  ASSERT_FALSE(id_mismatch.ok());
  EXPECT_EQ(id_mismatch.error().fields[0].field, "id");
}

TEST_F(ConfigStoreTest, PutByIdCanRenameAndKeepsReferences) {
  Service s = mustCreate(makeService("orders"));
  Route r = mustCreate(makeRoute("orders-api", "orders"));
  Service renamed = s;
  renamed.name = "orders-v2";
  auto put = store_->put(s.id, renamed, {});
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_EQ(store_->get<Route>(r.id)->service, s.id);
  EXPECT_TRUE(store_->get<Service>("orders-v2").ok());
  EXPECT_FALSE(store_->get<Service>("orders").ok());
}

TEST_F(ConfigStoreTest, ConsumerDeleteTakesItsKeysAndRecordsEach) {
  Consumer c = mustCreate(makeConsumer("acme"));
  auto k1 = store_->createKey("acme", makeKey("tpk_first_key_0123456789"), {});
  ASSERT_TRUE(k1.ok()) << k1.error().message;
  auto k2 = store_->createKey(c.id, makeKey("tpk_second_key_0123456789"), {});
  ASSERT_TRUE(k2.ok()) << k2.error().message;
  EXPECT_EQ(k1->entity.consumer_id, c.id);
  EXPECT_GT(k1->entity.created_at, 0);
  const int64_t before_delete = version();

  auto del = store_->remove<Consumer>("acme", {});
  ASSERT_TRUE(del.ok()) << del.error().message;
  EXPECT_EQ(store_->counts()->api_keys, 0);

  auto entry = store_->historyEntry(del->version);
  ASSERT_TRUE(entry.ok());
  ASSERT_EQ(entry->changes.size(), 3u);
  EXPECT_EQ(entry->changes[0].entity_type, "api_key");
  EXPECT_EQ(entry->changes[0].entity_id, k1->entity.id);
  EXPECT_EQ(entry->changes[0].before["key_hash"], k1->entity.key_hash);
  EXPECT_TRUE(entry->changes[0].after.is_null());
  EXPECT_EQ(entry->changes[1].entity_id, k2->entity.id);
  EXPECT_EQ(entry->changes[2].entity_type, "consumer");

  // Restoring the version before the delete brings the consumer and both keys back.
  auto restored = store_->restore(before_delete, {});
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  auto keys = store_->listKeys("acme", {});
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  ASSERT_EQ(keys->data.size(), 2u);
  EXPECT_EQ(keys->data[0], k1->entity);
  EXPECT_EQ(keys->data[1], k2->entity);
  EXPECT_EQ(store_->get<Consumer>("acme")->id, c.id);
}

TEST_F(ConfigStoreTest, KeysAreScopedToTheirConsumer) {
  mustCreate(makeConsumer("acme"));
  mustCreate(makeConsumer("globex"));
  auto k = store_->createKey("acme", makeKey("tpk_acme_key_0123456789"), {});
  ASSERT_TRUE(k.ok()) << k.error().message;

  auto dup = store_->createKey("globex", makeKey("tpk_acme_key_0123456789"), {});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);

  EXPECT_TRUE(store_->getKey("acme", k->entity.id).ok());
  auto other = store_->getKey("globex", k->entity.id);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, ErrorCode::kNotFound);
  auto no_consumer = store_->createKey("nobody", makeKey("tpk_nobody_key_0123456789"), {});
  ASSERT_FALSE(no_consumer.ok());
  EXPECT_EQ(no_consumer.error().code, ErrorCode::kNotFound);

  EXPECT_FALSE(store_->removeKey("globex", k->entity.id, {}).ok());
  auto removed = store_->removeKey("acme", k->entity.id, {});
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_EQ(store_->listKeys("acme", {})->data.size(), 0u);
  auto entry = store_->historyEntry(removed->version);
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->action, "delete");
  EXPECT_FALSE(entry->changes[0].before.contains("key"));  // only the hash, never a key
}

TEST_F(ConfigStoreTest, ListsPageInInsertionOrderAndFilterByAllTags) {
  for (int i = 0; i < 5; ++i) {
    std::vector<std::string> tags = {"all"};
    if (i % 2 == 0) tags.push_back("even");
    if (i == 4) tags.push_back("four");
    mustCreate(makeService("s" + std::to_string(i), tags));
  }
  std::vector<std::string> names;
  ListQuery q = query(2);
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store_->list<Service>(q);
    ASSERT_TRUE(page.ok()) << page.error().message;
    for (const Service& s : page->data) names.push_back(s.name);
    if (!page->next) break;
    EXPECT_EQ(page->data.size(), 2u);
    q.after = *page->next;
  }
  EXPECT_THAT(names, ElementsAre("s0", "s1", "s2", "s3", "s4"));

  // Exactly a full page: no cursor to an empty page.
  auto exact = store_->list<Service>(query(5));
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->data.size(), 5u);
  EXPECT_FALSE(exact->next);

  auto even = store_->list<Service>(withTags({"even", "all"}));
  ASSERT_TRUE(even.ok());
  ASSERT_EQ(even->data.size(), 3u);
  EXPECT_EQ(even->data[2].name, "s4");
  auto four = store_->list<Service>(withTags({"even", "four"}));
  ASSERT_TRUE(four.ok());
  ASSERT_EQ(four->data.size(), 1u);
  EXPECT_EQ(four->data[0].name, "s4");
  EXPECT_TRUE(store_->list<Service>(withTags({"none"}))->data.empty());

  // A filtered list pages through the matching rows only.
  auto first_even = store_->list<Service>(query(1, "", {"even"}));
  ASSERT_TRUE(first_even.ok());
  ASSERT_TRUE(first_even->next);
  auto second_even = store_->list<Service>(query(1, *first_even->next, {"even"}));
  ASSERT_TRUE(second_even.ok());
  EXPECT_EQ(second_even->data[0].name, "s2");
}

TEST_F(ConfigStoreTest, ListQueriesAreValidated) {
  auto zero = store_->list<Route>(query(0));
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(zero.error().fields[0].field, "size");
  auto big = store_->list<Consumer>(query(1001));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().fields[0].field, "size");
  EXPECT_TRUE(store_->list<Consumer>(query(1000)).ok());
  auto cursor = store_->list<RateLimitPolicy>(query(100, "not-a-cursor"));
  ASSERT_FALSE(cursor.ok());
  EXPECT_EQ(cursor.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(cursor.error().fields[0].field, "after");
}

TEST_F(ConfigStoreTest, CountsEveryKind) {
  mustCreate(makeService("orders"));
  mustCreate(makeRoute("r", "orders"));
  mustCreate(makeConsumer("acme"));
  mustCreate(makePolicy("gold"));
  ASSERT_TRUE(store_->createKey("acme", makeKey("tpk_count_key_0123456789"), {}).ok());
  auto c = store_->counts();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->services, 1);
  EXPECT_EQ(c->routes, 1);
  EXPECT_EQ(c->consumers, 1);
  EXPECT_EQ(c->api_keys, 1);
  EXPECT_EQ(c->rate_limit_policies, 1);
}

TEST_F(ConfigStoreTest, LoadConfigReturnsEverythingAtOneVersion) {
  Service s = mustCreate(makeService("orders"));
  Route r = mustCreate(makeRoute("r", "orders"));
  Route unnamed = mustCreate(makeRoute("", "orders"));
  Consumer c = mustCreate(makeConsumer("acme"));
  RateLimitPolicy p = mustCreate(makePolicy("gold"));
  auto k = store_->createKey("acme", makeKey("tpk_load_key_0123456789"), {});
  ASSERT_TRUE(k.ok());
  model::Config config = load();
  EXPECT_EQ(config.version, 6);
  EXPECT_THAT(config.services, ElementsAre(s));
  EXPECT_THAT(config.routes, ElementsAre(r, unnamed));
  EXPECT_THAT(config.consumers, ElementsAre(c));
  EXPECT_THAT(config.rate_limit_policies, ElementsAre(p));
  EXPECT_THAT(config.api_keys, ElementsAre(k->entity));
}

// Loads reuse what earlier loads decoded; every kind of write in between must still show, and
// the result must be what a store decoding everything afresh reads.
TEST_F(ConfigStoreTest, EachLoadSeesTheWritesBeforeIt) {
  mustCreate(makeService("orders"));
  mustCreate(makePolicy("gold"));
  Route kept = mustCreate(makeRoute("kept", "orders"));
  Route changed = mustCreate(makeRoute("changed", "orders"));
  Route last = mustCreate(makeRoute("last", "orders"));
  EXPECT_THAT(load().routes, ElementsAre(kept, changed, last));

  Route update = makeRoute("changed", "orders", {"gold"});
  auto put = store_->put<Route>("changed", update, {});
  ASSERT_TRUE(put.ok()) << put.error().message;
  // Deleting the newest row lets SQLite give its seq to the next insert: same seq, other entity.
  ASSERT_TRUE(store_->remove<Route>("last", {}).ok());
  Route added = mustCreate(makeRoute("added", "orders"));
  model::Config config = load();
  EXPECT_THAT(config.routes, ElementsAre(kept, put->entity, added));

  auto fresh = ConfigStore::open(dir_.file("turnpike.db"), nullptr);
  ASSERT_TRUE(fresh.ok());
  auto afresh = (*fresh)->loadConfig();
  ASSERT_TRUE(afresh.ok());
  EXPECT_EQ(config, *afresh);
  EXPECT_EQ(load(), *afresh);  // and again, now that nothing changed
}

// A row changed behind the store's back (another process, a hand edit) is decoded and
// validated again: a stored entity that no longer parses is still an error.
TEST_F(ConfigStoreTest, LoadSeesRowsChangedByAnotherConnection) {
  mustCreate(makeService("orders"));
  Route r = mustCreate(makeRoute("r", "orders"));
  EXPECT_THAT(load().routes, ElementsAre(r));
  auto setDoc = [&](const std::string& sql) {
    SQLite::Database db(dir_.file("turnpike.db"), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "UPDATE routes SET doc = " + sql + " WHERE id = ?");
    q.bind(1, r.id);
    EXPECT_EQ(q.exec(), 1);
  };

  setDoc("json_set(doc, '$.priority', 7)");
  model::Config config = load();
  ASSERT_EQ(config.routes.size(), 1u);
  EXPECT_EQ(config.routes[0].priority, 7);

  setDoc("json_set(doc, '$.paths', json('[]'))");  // no hosts, paths or methods left
  auto broken = store_->loadConfig();
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().code, ErrorCode::kInternal);
  EXPECT_THAT(broken.error().message, HasSubstr("stored route is unreadable"));

  setDoc("json_set(doc, '$.paths', json('[\"/r\"]'), '$.priority', 0)");
  EXPECT_THAT(load().routes, ElementsAre(r));
}

TEST_F(ConfigStoreTest, AdminTokenHashIsStoredWithoutAVersion) {
  auto none = store_->adminTokenHash();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
  const std::string hash = model::sha256Hex("secret-token");
  ASSERT_TRUE(store_->setAdminTokenHash(hash).ok());
  ASSERT_TRUE(store_->setAdminTokenHash(hash).ok());  // idempotent
  auto stored = store_->adminTokenHash();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, hash);
  EXPECT_EQ(version(), 0);
}

TEST_F(ConfigStoreTest, ConcurrentWritersEachGetTheirOwnVersion) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 10; ++i) {
        auto r = store_->create(makeService("t" + std::to_string(t) + "-" + std::to_string(i)), {});
        EXPECT_TRUE(r.ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(version(), 40);
  EXPECT_EQ(historyRows(), 40);
}

// --- replaceConfig, configAt, restore -----------------------------------------------------------

class ReplaceConfigTest : public ConfigStoreTest {
 protected:
  void SetUp() override {
    ConfigStoreTest::SetUp();
    orders_ = mustCreate(makeService("orders"));
    billing_ = mustCreate(makeService("billing"));
    gold_ = mustCreate(makePolicy("gold"));
    route_ = mustCreate(makeRoute("orders-api", "orders", {"gold"}));
    acme_ = mustCreate(makeConsumer("acme"));
  }

  Service orders_, billing_;
  RateLimitPolicy gold_;
  Route route_;
  Consumer acme_;
};

TEST_F(ReplaceConfigTest, ReplacingWithTheCurrentConfigChangesNothing) {
  model::Config current = load();
  auto r = store_->replaceConfig(current, {}, /*dry_run=*/false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->changes.empty());
  EXPECT_EQ(r->version, 5);
  EXPECT_EQ(version(), 5);
  EXPECT_EQ(historyRows(), 5);
}

TEST_F(ReplaceConfigTest, ComputesTheDiffAndAppliesItAsOneVersion) {
  model::Config desired;
  // orders: matched by name (no id given), changed.
  Service orders = makeService("orders", {}, "http://10.0.0.7:80");
  desired.services.push_back(orders);
  // billing: gone. shipping: new.
  desired.services.push_back(makeService("shipping"));
  desired.rate_limit_policies.push_back(makePolicy("gold"));  // same content, matched by name
  // The route moves to the new service, referenced by name.
  Route route = route_;
  route.service = "shipping";
  route.rate_limit_policies = {"gold"};
  desired.routes.push_back(route);
  desired.consumers.push_back(acme_);  // unchanged

  auto dry = store_->replaceConfig(desired, {}, /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.error().message;
  EXPECT_EQ(dry->version, 5);
  std::multiset<std::string> kinds;
  for (const Change& c : dry->changes) {
    kinds.insert(c.entity_type + (c.before.is_null()  ? ":create"
                                  : c.after.is_null() ? ":delete"
                                                      : ":update"));
  }
  EXPECT_EQ(kinds, (std::multiset<std::string>{"service:update", "service:delete", "service:create",
                                               "route:update"}));
  // The dry run wrote nothing.
  EXPECT_EQ(version(), 5);
  EXPECT_EQ(historyRows(), 5);
  EXPECT_TRUE(store_->get<Service>("billing").ok());
  EXPECT_FALSE(store_->get<Service>("shipping").ok());

  auto real = store_->replaceConfig(desired, byActor("ci"), /*dry_run=*/false);
  ASSERT_TRUE(real.ok()) << real.error().message;
  EXPECT_EQ(real->version, 6);
  EXPECT_EQ(real->changes.size(), dry->changes.size());
  EXPECT_EQ(historyRows(), 6);
  auto entry = store_->historyEntry(6);
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->action, "import");
  EXPECT_EQ(entry->actor, "ci");
  EXPECT_EQ(entry->summary, "import: 1 created, 2 updated, 1 deleted");

  model::Config now = load();
  ASSERT_EQ(now.services.size(), 2u);
  EXPECT_EQ(now.services[0].id, orders_.id);  // matched by name keeps the id
  EXPECT_EQ(now.services[0].created_at, orders_.created_at);
  EXPECT_EQ(now.services[0].targets[0].url, "http://10.0.0.7:80");
  EXPECT_EQ(now.services[1].name, "shipping");
  ASSERT_EQ(now.routes.size(), 1u);
  EXPECT_EQ(now.routes[0].id, route_.id);
  EXPECT_EQ(now.routes[0].service, now.services[1].id);
  EXPECT_THAT(now.routes[0].rate_limit_policies, ElementsAre(gold_.id));
  EXPECT_EQ(now.rate_limit_policies[0].id, gold_.id);
  EXPECT_FALSE(store_->get<Service>("billing").ok());

  // The same document again is a no-op.
  auto again = store_->replaceConfig(desired, {}, /*dry_run=*/false);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->changes.empty());
  EXPECT_EQ(version(), 6);
}

TEST_F(ReplaceConfigTest, AnInvalidDocumentChangesNothingAndNamesTheFields) {
  model::Config desired = load();
  desired.routes[0].service = "nowhere";
  desired.consumers[0].rate_limit_policies = {"platinum"};
  desired.services.push_back(makeService("orders"));  // duplicate name
  auto r = store_->replaceConfig(desired, {}, /*dry_run=*/false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  std::set<std::string> fields;
  for (const FieldError& f : r.error().fields) fields.insert(f.field);
  EXPECT_EQ(fields, (std::set<std::string>{"services[2].name", "routes[0].service",
                                           "consumers[0].rate_limit_policies[0]"}));
  EXPECT_EQ(version(), 5);
}

TEST_F(ReplaceConfigTest, EmptyConfigDeletesEverythingInDependencyOrder) {
  ASSERT_TRUE(store_->createKey("acme", makeKey("tpk_replace_key_0123456789"), {}).ok());
  auto r = store_->replaceConfig(model::Config{}, {}, /*dry_run=*/false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->changes.size(), 6u);
  auto c = store_->counts();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->services + c->routes + c->consumers + c->api_keys + c->rate_limit_policies, 0);
}

TEST_F(ReplaceConfigTest, NamesCanBeSwappedInOneReplacement) {
  model::Config desired = load();
  desired.services[0].name = "billing";
  desired.services[1].name = "orders";
  auto r = store_->replaceConfig(desired, {}, /*dry_run=*/false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(store_->get<Service>("billing")->id, orders_.id);
  EXPECT_EQ(store_->get<Service>("orders")->id, billing_.id);
}

TEST_F(ReplaceConfigTest, KeepsGivenIdsAndTimestamps) {
  model::Config desired = load();
  Service imported = makeService("imported");
  imported.id = model::newUuid();
  imported.created_at = 1000;
  imported.updated_at = 2000;
  desired.services.push_back(imported);
  ApiKey key = makeKey("tpk_imported_key_0123456789");
  key.id = model::newUuid();
  key.consumer_id = "acme";  // by username
  key.created_at = 1500;
  desired.api_keys.push_back(key);
  auto r = store_->replaceConfig(desired, {}, /*dry_run=*/false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto s = store_->get<Service>(imported.id);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->created_at, 1000);
  EXPECT_EQ(s->updated_at, 2000);
  auto k = store_->getKey("acme", key.id);
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(k->consumer_id, acme_.id);
  EXPECT_EQ(k->created_at, 1500);
}

TEST_F(ReplaceConfigTest, KeysMatchByHashAndSurviveTheirConsumerBeingReplaced) {
  auto key = store_->createKey("acme", makeKey("tpk_moving_key_0123456789"), {});
  ASSERT_TRUE(key.ok()) << key.error().message;
  model::Config desired = load();
  // acme goes away; a brand-new consumer takes over the key, which the document lists without
  // its id (so it is matched by hash).
  desired.consumers = {makeConsumer("newco")};
  desired.api_keys[0].id.clear();
  desired.api_keys[0].consumer_id = "newco";
  auto r = store_->replaceConfig(desired, {}, /*dry_run=*/false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto moved = store_->listKeys("newco", {});
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  ASSERT_EQ(moved->data.size(), 1u);
  EXPECT_EQ(moved->data[0].id, key->entity.id);
  EXPECT_EQ(moved->data[0].key_hash, key->entity.key_hash);
  EXPECT_EQ(moved->data[0].created_at, key->entity.created_at);
  EXPECT_FALSE(store_->get<Consumer>("acme").ok());
}

TEST_F(ReplaceConfigTest, ADryRunReportsTheSameErrorsAsARealRun) {
  model::Config desired = load();
  desired.routes[0].rate_limit_policies = {"missing"};
  auto dry = store_->replaceConfig(desired, {}, /*dry_run=*/true);
  ASSERT_FALSE(dry.ok());
  EXPECT_EQ(dry.error().code, ErrorCode::kInvalid);
  ASSERT_EQ(dry.error().fields.size(), 1u);
  EXPECT_EQ(dry.error().fields[0].field, "routes[0].rate_limit_policies[0]");
}

TEST_F(ReplaceConfigTest, ConfigAtReconstructsEveryEarlierVersion) {
  // Versions 1..5 were written in SetUp; later versions are compared against snapshots taken
  // right after each write.
  std::vector<model::Config> snapshots;
  snapshots.push_back(load());  // v5
  Service changed = orders_;
  changed.retries = 9;
  ASSERT_TRUE(store_->put(orders_.id, changed, {}).ok());
  snapshots.push_back(load());  // v6
  ASSERT_TRUE(store_->createKey("acme", makeKey("tpk_history_key_0123456789"), {}).ok());
  snapshots.push_back(load());  // v7
  ASSERT_TRUE(store_->remove<Route>("orders-api", {}).ok());
  snapshots.push_back(load());  // v8
  ASSERT_TRUE(store_->remove<Consumer>("acme", {}).ok());
  snapshots.push_back(load());  // v9
  ASSERT_EQ(version(), 9);

  for (const model::Config& expected : snapshots) {
    auto at = store_->configAt(expected.version);
    ASSERT_TRUE(at.ok()) << at.error().message;
    EXPECT_EQ(*at, expected) << "version " << expected.version;
  }
  auto empty = store_->configAt(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->services.empty());
  EXPECT_TRUE(empty->routes.empty());
  auto v1 = store_->configAt(1);
  ASSERT_TRUE(v1.ok());
  EXPECT_THAT(v1->services, ElementsAre(orders_));

  EXPECT_EQ(store_->configAt(10).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->configAt(-1).error().code, ErrorCode::kNotFound);
}

TEST_F(ReplaceConfigTest, RestoreMakesAnEarlierVersionCurrentAsANewVersion) {
  model::Config at5 = load();
  Service changed = orders_;
  changed.retries = 9;
  ASSERT_TRUE(store_->put(orders_.id, changed, {}).ok());
  ASSERT_TRUE(store_->remove<Route>("orders-api", {}).ok());
  ASSERT_TRUE(store_->remove<Service>("billing", {}).ok());
  mustCreate(makeService("later"));
  ASSERT_EQ(version(), 9);

  auto restored = store_->restore(5, byActor("ops"));
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->version, 10);
  auto entry = store_->historyEntry(10);
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->action, "restore");
  EXPECT_EQ(entry->actor, "ops");
  EXPECT_THAT(entry->summary, HasSubstr("restore version 5"));

  model::Config now = load();
  at5.version = now.version;
  EXPECT_EQ(now, at5);

  // Restoring what is already current adds nothing.
  auto again = store_->restore(10, {});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->changes.empty());
  EXPECT_EQ(version(), 10);
  EXPECT_EQ(store_->restore(11, {}).error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace turnpike::storage
