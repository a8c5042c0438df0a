// ConfigStore: the configuration's only durable home, one SQLite file.
//
// Every write is one transaction that changes the entity, bumps meta.config_version and appends
// a history entry (actor, action, before/after JSON of each entity touched; API keys appear
// only as hashes). A write that fails changes nothing. After commit the new version is
// published on the ChangeFeed.
//
//   auto store = ConfigStore::open("turnpike.db", feed);
//   if (!store) die(store.error().message);
//   auto r = (*store)->create(service, {.actor = "admin"});
//
// Entities are addressed by id or by unique name (username for consumers). References held by
// routes, consumers and services (service, rate_limit_policies, tls.client_certificate) are
// given as ids or names and stored and returned as ids; a missing reference is kInvalid naming
// the field ("service", "rate_limit_policies[1]", "tls.client_certificate").
//
// Certificates' private keys are sealed here, with the keyring given to open(), once the
// certificate's id is final (the id is the associated data): a write's "key" is sealed before
// anything is stored, a write's "key_encrypted" must open under this keyring for this
// certificate, and a write with neither keeps the stored certificate's key. The database, the
// history and loadConfig() hold only the sealed form. Without a keyring, a certificate cannot
// be given a key (kInvalid "no keyring").
//
// Thread-safe: one connection guarded by a mutex (admin writes are rare and short).
//
// Loads keep each entity decoded from its stored JSON together with that exact text, and reuse
// the decoded entity only while the stored text is byte-for-byte the same: a row changed by any
// writer (this store, another process, a hand edit) is decoded and validated afresh on the next
// load. This costs about one more copy of the configuration in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/api_key.h"
#include "model/config.h"
#include "model/result.h"

namespace SQLite {
class Database;
}

namespace turnpike::storage {

class ChangeFeed;
class Keyring;
struct DecodedDocs;  // private to config_store.cc

struct ListQuery {
  size_t size = 100;              // 1..1000
  std::string after;              // opaque cursor from a previous Page::next; empty = start
  std::vector<std::string> tags;  // entity must carry all of them
};

template <class T>
struct Page {
  std::vector<T> data;
  std::optional<std::string> next;  // cursor of the following page; none at the end
};

struct WriteOptions {
  std::string actor = "admin";
  // An ETag (model::etagOf of the entity's current API form). When set and the current
  // entity's tag differs, or it does not exist, the write fails with kPreconditionFailed.
  std::optional<std::string> if_match;
};

template <class T>
struct Written {
  T entity;              // as stored, references resolved to ids
  int64_t version = 0;   // config version after the commit
  bool created = false;  // PUT: true when the entity did not exist before
};

struct Deleted {
  int64_t version = 0;
};

// One entity's change: before/after are API forms (json null when absent).
struct Change {
  // "service", "route", "consumer", "api_key", "rate_limit_policy", "certificate"
  std::string entity_type;
  std::string entity_id;
  nlohmann::json before;
  nlohmann::json after;
};

struct HistoryEntry {
  int64_t version = 0;
  int64_t at = 0;  // Unix seconds
  std::string actor;
  std::string action;           // "create", "update", "delete", "import", "restore"
  std::string summary;          // "create service orders"
  std::vector<Change> changes;  // filled by historyEntry(); empty in history() lists
};

struct ConfigReplaced {
  int64_t version = 0;  // new version (the current one when dry_run or nothing changed)
  std::vector<Change> changes;
};

struct Counts {
  int64_t services = 0, routes = 0, consumers = 0, api_keys = 0, rate_limit_policies = 0,
          certificates = 0;
};

class ConfigStore {
 public:
  // Opens or creates the file, sets WAL, foreign_keys=ON, synchronous=FULL and a busy timeout,
  // and applies pending migrations. A database whose schema is newer than this binary's
  // migrations is refused (kInternal with a message saying so). `feed` may be null; so may
  // `keyring` (then no certificate can be given a key).
  static model::Result<std::unique_ptr<ConfigStore>> open(
      const std::string& path, std::shared_ptr<ChangeFeed> feed,
      std::shared_ptr<const Keyring> keyring = nullptr);
  ~ConfigStore();

  // T is model::Service, model::Route, model::Consumer, model::RateLimitPolicy or
  // model::Certificate. A certificate's SNI already served by another certificate is kConflict
  // naming "snis[i]"; a second default certificate is kConflict naming "default".
  template <class T>
  model::Result<T> get(std::string_view id_or_name);
  template <class T>
  model::Result<Page<T>> list(const ListQuery& query);
  // Creates with entity.id if given (must be a UUID, 409 if taken) else a new UUID;
  // created_at = updated_at = now. Duplicate name -> kConflict naming the name field.
  template <class T>
  model::Result<Written<T>> create(T entity, const WriteOptions& options);
  // Replaces the entity addressed by id_or_name, keeping its id and created_at; when absent,
  // creates it (id = id_or_name if that is a UUID, else name = id_or_name; a body naming a
  // different name or id is kInvalid).
  template <class T>
  model::Result<Written<T>> put(std::string_view id_or_name, T entity, const WriteOptions& options);
  // Deleting a service still used by a route, or a policy still used, is kInvalid naming the
  // users; deleting a certificate still a service's tls.client_certificate is kConflict naming
  // the services; deleting a consumer deletes its keys (recorded in the same history entry).
  template <class T>
  model::Result<Deleted> remove(std::string_view id_or_name, const WriteOptions& options);

  // API keys, under a consumer given by id or username. key.consumer_id is set by the store;
  // the caller fills key_hash, prefix and expires_at (and id, or one is made). A duplicate
  // key hash is kConflict.
  model::Result<Written<model::ApiKey>> createKey(std::string_view consumer, model::ApiKey key,
                                                  const WriteOptions& options);
  model::Result<Page<model::ApiKey>> listKeys(std::string_view consumer, const ListQuery& query);
  model::Result<model::ApiKey> getKey(std::string_view consumer, std::string_view key_id);
  model::Result<Deleted> removeKey(std::string_view consumer, std::string_view key_id,
                                   const WriteOptions& options);

  model::Result<int64_t> version();
  model::Result<Counts> counts();

  // Ok when every stored certificate's key is sealed under this store's keyring; else kInternal
  // naming the first certificate that is not, and the keyring ids (the keys cannot be opened:
  // the server must not start with them).
  model::Status checkSealedKeys();

  // The whole configuration at one version, read in one transaction.
  model::Result<model::Config> loadConfig();

  // Replaces the whole configuration atomically with `config` (references by id or name, as
  // for single writes; ids and timestamps given are kept). Returns the changes; with dry_run
  // nothing is written. Nothing changed -> no new version. Errors name the entry
  // ("certificates[1].snis[0]"); an SNI in two certificates, or two defaults, is kConflict.
  model::Result<ConfigReplaced> replaceConfig(model::Config config, const WriteOptions& options,
                                              bool dry_run, std::string action = "import");

  // Newest first. `query.after` is a cursor; tags are ignored.
  model::Result<Page<HistoryEntry>> history(const ListQuery& query);
  model::Result<HistoryEntry> historyEntry(int64_t version);
  // The configuration as it was right after `version` committed.
  model::Result<model::Config> configAt(int64_t version);
  // Makes the configuration what it was at `version`, as a new version with action "restore".
  model::Result<ConfigReplaced> restore(int64_t version, const WriteOptions& options);

  // The admin token's SHA-256 (hex), if one was stored.
  model::Result<std::optional<std::string>> adminTokenHash();
  model::Status setAdminTokenHash(const std::string& hash_hex);

  const std::string& path() const { return path_; }

 private:
  ConfigStore(std::string path, std::unique_ptr<SQLite::Database> db,
              std::shared_ptr<ChangeFeed> feed, std::shared_ptr<const Keyring> keyring);

  std::string path_;
  std::mutex mu_;  // guards db_ and decoded_
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<DecodedDocs> decoded_;  // never null
  std::shared_ptr<ChangeFeed> feed_;
  std::shared_ptr<const Keyring> keyring_;  // may be null; immutable
};

}  // namespace turnpike::storage
