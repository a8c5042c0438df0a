#include "storage/config_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstring>
#include <exception>
#include <map>
#include <set>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "model/entity_traits.h"
#include "model/identity.h"
#include "storage/change_feed.h"
#include "storage/keyring.h"
#include "storage/migrations.h"

namespace turnpike::storage {

// The entities the last load decoded, each with the row's seq and the exact stored text it was
// decoded from. Decoding is a pure function of that text (the doc holds the id too), so an
// entry stands for a row only while the row's doc is byte-for-byte the same; loadAll checks
// that on every load. seq only says where to look.
struct DecodedDocs {
  template <class T>
  struct Entry {
    int64_t seq = 0;
    std::string doc;
    T entity;
  };
  template <class T>
  using List = std::vector<Entry<T>>;  // ascending seq, as the rows are read

  template <class T>
  List<T>& of() {
    return std::get<List<T>>(lists);
  }

  std::tuple<List<model::Service>, List<model::Route>, List<model::Consumer>,
             List<model::RateLimitPolicy>, List<model::Certificate>>
      lists;
};

namespace {

using model::ApiKey;
using model::Certificate;
using model::Consumer;
using model::Error;
using model::FieldError;
using model::FieldErrors;
using model::RateLimitPolicy;
using model::Result;
using model::Route;
using model::Service;
using nlohmann::json;

// Long enough to ride out another process's write transaction (they are short), short enough
// that an admin request does not hang on a stuck writer.
constexpr int kBusyTimeoutMs = 5000;
constexpr size_t kMaxPageSize = 1000;

// Where each entity kind lives. kTable doubles as the collection key of a config document,
// which names fields in replaceConfig errors ("routes[2].service").
template <class T>
struct Table;
template <>
struct Table<Service> {
  static constexpr const char* kTable = "services";
  static constexpr const char* kNameColumn = "name";
  static constexpr const char* kNoun = "service";
};
template <>
struct Table<Route> {
  static constexpr const char* kTable = "routes";
  static constexpr const char* kNameColumn = "name";
  static constexpr const char* kNoun = "route";
};
template <>
struct Table<Consumer> {
  static constexpr const char* kTable = "consumers";
  static constexpr const char* kNameColumn = "username";
  static constexpr const char* kNoun = "consumer";
};
template <>
struct Table<RateLimitPolicy> {
  static constexpr const char* kTable = "rate_limit_policies";
  static constexpr const char* kNameColumn = "name";
  static constexpr const char* kNoun = "rate limit policy";
};
template <>
struct Table<Certificate> {
  static constexpr const char* kTable = "certificates";
  static constexpr const char* kNameColumn = "name";
  static constexpr const char* kNoun = "certificate";
};

constexpr const char* kApiKeyType = "api_key";

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Ids are stored lower case; a client may still address an entity with an upper-case UUID.
std::string canonicalRef(std::string_view ref) {
  std::string out(ref);
  if (model::isUuid(out)) {
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

template <class T>
std::string displayName(const T& e) {
  const std::string& name = model::EntityTraits<T>::name(e);
  return name.empty() ? e.id : name;
}

// SQLite failures that our own checks did not pre-empt. Constraint failures still get the
// status class a client expects; everything else is the server's problem.
Error sqlError(const SQLite::Exception& e) {
  switch (e.getExtendedErrorCode()) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return Error::conflict(std::string("already exists (") + e.what() + ")");
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return Error::invalid(
          "a referenced entity does not exist, or the entity is still referenced");
    default:
      break;
  }
  if (e.getErrorCode() == SQLITE_BUSY || e.getErrorCode() == SQLITE_LOCKED) {
    return Error::internal(std::string("database is busy: ") + e.what());
  }
  return Error::internal(std::string("database error: ") + e.what());
}

// Runs f, turning any exception into an Error: nothing thrown inside storage leaves it.
template <class F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const SQLite::Exception& e) {
    return sqlError(e);
  } catch (const std::exception& e) {
    return Error::internal(std::string("storage error: ") + e.what());
  } catch (...) {
    return Error::internal("storage error");
  }
}

Error notFound(std::string_view noun, std::string_view ref) {
  return Error::notFound(std::string(noun) + " '" + std::string(ref) + "' not found");
}

Error invalidRefs(FieldErrors fields) {
  std::string message = fields.size() == 1 ? fields.front().field + ": " + fields.front().message
                                           : "the configuration has invalid fields";
  return Error::invalid(std::move(message), std::move(fields));
}

Result<int64_t> validateQuery(const ListQuery& q) {
  if (q.size < 1 || q.size > kMaxPageSize) {
    return Error::invalidField("size", "must be between 1 and 1000");
  }
  if (q.after.empty()) return int64_t{0};
  int64_t seq = 0;
  const char* end = q.after.data() + q.after.size();
  const auto [ptr, ec] = std::from_chars(q.after.data(), end, seq);
  if (ec != std::errc() || ptr != end || seq < 0) {
    return Error::invalidField("after", "is not a cursor from a previous page");
  }
  return seq;
}

// Cursors are the last row's seq. Clients must treat them as opaque; they are only valid for
// the same collection.
std::string cursorOf(int64_t seq) { return std::to_string(seq); }

std::string tagsJson(const std::vector<std::string>& tags) { return json(tags).dump(); }

// " AND EXISTS (...)" once per tag: the all-of filter. Each takes one bound parameter.
std::string tagFilterSql(const std::string& alias, const std::vector<std::string>& tags) {
  std::string sql;
  for (size_t i = 0; i < tags.size(); ++i) {
    sql += " AND EXISTS (SELECT 1 FROM json_each(" + alias + ".tags) WHERE value = ?)";
  }
  return sql;
}

std::vector<std::string> distinctTags(const std::vector<std::string>& tags) {
  std::set<std::string> set(tags.begin(), tags.end());
  return {set.begin(), set.end()};
}

json jsonOrNull(const SQLite::Column& c) {
  if (c.isNull()) return nullptr;
  return json::parse(c.getString());
}

void bindTextOrNull(SQLite::Statement& s, int index, const std::string& text) {
  if (text.empty()) {
    s.bind(index);
  } else {
    s.bind(index, text);
  }
}

// The form an entity is stored in (its row's doc and its history entries): the API form, and
// for a certificate its sealed key as well.
template <class T>
json storedJson(const T& e) {
  if constexpr (std::is_same_v<T, Certificate>) {
    return model::toJson(e, /*with_sealed_key=*/true);
  } else {
    return model::toJson(e);
  }
}

// Overwrites a secret's bytes before its memory is released.
void wipe(std::string& secret) {
  OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

// --- Reading entities -------------------------------------------------------------------------

template <class T>
Result<T> decodeDoc(std::string_view doc) {
  json j = json::parse(doc, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Error::internal(std::string("stored ") + Table<T>::kNoun + " is not valid JSON");
  }
  Result<T> r = model::EntityTraits<T>::parse(j);
  if (!r) {
    return Error::internal(std::string("stored ") + Table<T>::kNoun +
                           " is unreadable: " + r.error().message);
  }
  return r;
}

// Finds an entity by id (when ref is a UUID) or by its unique name.
template <class T>
Result<std::optional<T>> findEntity(SQLite::Database& db, std::string_view ref) {
  const std::string key = canonicalRef(ref);
  const bool by_id = model::isUuid(key);
  SQLite::Statement q(db, std::string("SELECT doc FROM ") + Table<T>::kTable + " WHERE " +
                              (by_id ? "id" : Table<T>::kNameColumn) + " = ?");
  q.bind(1, key);
  if (!q.executeStep()) return std::optional<T>();
  Result<T> e = decodeDoc<T>(q.getColumn(0).getString());
  if (!e) return e.error();
  return std::optional<T>(std::move(*e));
}

template <class T>
Result<T> requireEntity(SQLite::Database& db, std::string_view ref) {
  Result<std::optional<T>> found = findEntity<T>(db, ref);
  if (!found) return found.error();
  if (!*found) return notFound(Table<T>::kNoun, ref);
  return std::move(**found);
}

// Every entity of a kind, in insertion order. Parsing and validating a doc is most of a load's
// cost (about 10 us per route), so a row whose doc is exactly the text the previous load decoded
// for the same seq reuses that entity; any other row is decoded as usual. Both lists are in seq
// order, so matching them is one merge-like pass. `decoded` is left holding this load's rows
// only (or nothing, after an error), so deleted entities do not linger.
template <class T>
Result<std::vector<T>> loadAll(SQLite::Database& db, DecodedDocs::List<T>& decoded) {
  std::vector<T> out;
  out.reserve(decoded.size());
  DecodedDocs::List<T> kept;
  kept.reserve(decoded.size());
  auto earlier = decoded.begin();
  SQLite::Statement q(db,
                      std::string("SELECT seq, doc FROM ") + Table<T>::kTable + " ORDER BY seq");
  while (q.executeStep()) {
    const int64_t seq = q.getColumn(0).getInt64();
    const SQLite::Column doc_column = q.getColumn(1);
    const char* text = doc_column.getText();  // before getBytes(), as SQLite asks
    const std::string_view doc(text, static_cast<size_t>(doc_column.getBytes()));
    while (earlier != decoded.end() && earlier->seq < seq) ++earlier;
    if (earlier != decoded.end() && earlier->seq == seq && earlier->doc == doc) {
      out.push_back(earlier->entity);
      kept.push_back(std::move(*earlier));
      continue;
    }
    Result<T> e = decodeDoc<T>(doc);
    if (!e) {
      decoded.clear();  // some entries were moved out already
      return e.error();
    }
    out.push_back(*e);
    kept.push_back({seq, std::string(doc), std::move(*e)});
  }
  decoded = std::move(kept);
  return out;
}

std::optional<std::string> lookupId(SQLite::Database& db, const char* table,
                                    const char* name_column, std::string_view ref) {
  const std::string key = canonicalRef(ref);
  SQLite::Statement q(db, std::string("SELECT id FROM ") + table + " WHERE " +
                              (model::isUuid(key) ? "id" : name_column) + " = ?");
  q.bind(1, key);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getString();
}

template <class T>
bool idExists(SQLite::Database& db, const std::string& id) {
  SQLite::Statement q(db, std::string("SELECT 1 FROM ") + Table<T>::kTable + " WHERE id = ?");
  q.bind(1, id);
  return q.executeStep();
}

// The id of the entity holding `name`, if any.
template <class T>
std::optional<std::string> idOfName(SQLite::Database& db, const std::string& name) {
  SQLite::Statement q(db, std::string("SELECT id FROM ") + Table<T>::kTable + " WHERE " +
                              Table<T>::kNameColumn + " = ?");
  q.bind(1, name);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getString();
}

constexpr const char* kKeyColumns =
    "id, consumer_id, key_hash, prefix, expires_at, tags, created_at";

ApiKey keyFromRow(SQLite::Statement& q) {
  ApiKey k;
  k.id = q.getColumn(0).getString();
  k.consumer_id = q.getColumn(1).getString();
  k.key_hash = q.getColumn(2).getString();
  k.prefix = q.getColumn(3).getString();
  if (!q.getColumn(4).isNull()) k.expires_at = q.getColumn(4).getInt64();
  // Most keys have no tags; "[]" needs no parser.
  if (const char* tags = q.getColumn(5).getText(); std::strcmp(tags, "[]") != 0) {
    k.tags = json::parse(tags).get<std::vector<std::string>>();
  }
  k.created_at = q.getColumn(6).getInt64();
  return k;
}

std::vector<ApiKey> loadKeys(SQLite::Database& db, const std::string& consumer_id = "") {
  std::string sql = std::string("SELECT ") + kKeyColumns + " FROM api_keys";
  if (!consumer_id.empty()) sql += " WHERE consumer_id = ?";
  sql += " ORDER BY seq";
  SQLite::Statement q(db, sql);
  if (!consumer_id.empty()) q.bind(1, consumer_id);
  std::vector<ApiKey> out;
  while (q.executeStep()) out.push_back(keyFromRow(q));
  return out;
}

std::optional<ApiKey> findKey(SQLite::Database& db, const std::string& consumer_id,
                              std::string_view key_id) {
  SQLite::Statement q(
      db, std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE id = ? AND consumer_id = ?");
  q.bind(1, canonicalRef(key_id));
  q.bind(2, consumer_id);
  if (!q.executeStep()) return std::nullopt;
  return keyFromRow(q);
}

int64_t readVersion(SQLite::Database& db) {
  return db.execAndGet("SELECT value FROM meta WHERE key = 'config_version'").getInt64();
}

// The whole configuration; the caller holds the transaction that makes it one version.
Result<model::Config> loadConfigTx(SQLite::Database& db, DecodedDocs& decoded) {
  model::Config c;
  c.version = readVersion(db);
  auto services = loadAll<Service>(db, decoded.of<Service>());
  if (!services) return services.error();
  auto routes = loadAll<Route>(db, decoded.of<Route>());
  if (!routes) return routes.error();
  auto consumers = loadAll<Consumer>(db, decoded.of<Consumer>());
  if (!consumers) return consumers.error();
  auto policies = loadAll<RateLimitPolicy>(db, decoded.of<RateLimitPolicy>());
  if (!policies) return policies.error();
  auto certificates = loadAll<Certificate>(db, decoded.of<Certificate>());
  if (!certificates) return certificates.error();
  c.services = std::move(*services);
  c.routes = std::move(*routes);
  c.consumers = std::move(*consumers);
  c.rate_limit_policies = std::move(*policies);
  c.certificates = std::move(*certificates);
  c.api_keys = loadKeys(db);
  return c;
}

// --- Writing entities -------------------------------------------------------------------------

// The write statements of one operation, each prepared once: preparing costs more than running
// a one-row INSERT, and a whole-configuration write runs the same few statements for every
// entity (PUT /config of 10,000 routes used to prepare some 40,000). They are only ever run to
// completion, so none is active when the transaction commits; declared after the Transaction,
// they are finalized before an unfinished one rolls back.
class Statements {
 public:
  explicit Statements(SQLite::Database& db) : db_(db) {}

  // The statement for `sql`, reset and without bindings.
  SQLite::Statement& get(const std::string& sql) {
    std::unique_ptr<SQLite::Statement>& s = prepared_[sql];
    if (s) {
      s->reset();
      s->clearBindings();
    } else {
      s = std::make_unique<SQLite::Statement>(db_, sql);
    }
    return *s;
  }

 private:
  SQLite::Database& db_;
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> prepared_;
};

void syncPolicies(Statements& st, const char* table, const char* owner_column,
                  const std::string& owner_id, const std::vector<std::string>& policy_ids) {
  SQLite::Statement& del =
      st.get(std::string("DELETE FROM ") + table + " WHERE " + owner_column + " = ?");
  del.bind(1, owner_id);
  del.exec();
  if (policy_ids.empty()) return;
  SQLite::Statement& ins = st.get(std::string("INSERT INTO ") + table + " (" + owner_column +
                                  ", position, policy_id) VALUES (?, ?, ?)");
  for (size_t i = 0; i < policy_ids.size(); ++i) {
    ins.reset();
    ins.bind(1, owner_id);
    ins.bind(2, static_cast<int64_t>(i));
    ins.bind(3, policy_ids[i]);
    ins.exec();
  }
}

// A certificate's server names, one row each, replacing the ones it had.
void syncSnis(Statements& st, const Certificate& c) {
  SQLite::Statement& del = st.get("DELETE FROM certificate_snis WHERE certificate_id = ?");
  del.bind(1, c.id);
  del.exec();
  if (c.snis.empty()) return;
  SQLite::Statement& ins =
      st.get("INSERT INTO certificate_snis (sni, certificate_id) VALUES (?, ?)");
  for (const std::string& sni : c.snis) {
    ins.reset();
    ins.bind(1, sni);
    ins.bind(2, c.id);
    ins.exec();
  }
}

// Inserts or updates (by id) the row of `e`, whose references are already resolved to ids.
template <class T>
void writeEntity(Statements& st, const T& e, bool insert) {
  constexpr bool kIsRoute = std::is_same_v<T, Route>;
  constexpr bool kIsCertificate = std::is_same_v<T, Certificate>;
  const std::string table = Table<T>::kTable;
  const std::string name_column = Table<T>::kNameColumn;
  std::string sql;
  if (insert) {
    sql = "INSERT INTO " + table + " (id, " + name_column + ", doc, tags, created_at, updated_at" +
          (kIsRoute ? ", service_id" : "") + (kIsCertificate ? ", is_default" : "") +
          ") VALUES (?1, ?2, ?3, ?4, ?5, ?6" + (kIsRoute || kIsCertificate ? ", ?7" : "") + ")";
  } else {
    sql = "UPDATE " + table + " SET " + name_column +
          " = ?2, doc = ?3, tags = ?4, created_at = ?5, updated_at = ?6" +
          (kIsRoute ? ", service_id = ?7" : "") + (kIsCertificate ? ", is_default = ?7" : "") +
          " WHERE id = ?1";
  }
  SQLite::Statement& s = st.get(sql);
  s.bind(1, e.id);
  bindTextOrNull(s, 2, model::EntityTraits<T>::name(e));
  s.bind(3, storedJson(e).dump());
  s.bind(4, tagsJson(e.tags));
  s.bind(5, e.created_at);
  s.bind(6, e.updated_at);
  if constexpr (kIsRoute) bindTextOrNull(s, 7, e.service);
  if constexpr (kIsCertificate) s.bind(7, e.is_default ? 1 : 0);
  s.exec();
  if constexpr (kIsRoute) {
    syncPolicies(st, "route_policies", "route_id", e.id, e.rate_limit_policies);
  } else if constexpr (std::is_same_v<T, Consumer>) {
    syncPolicies(st, "consumer_policies", "consumer_id", e.id, e.rate_limit_policies);
  } else if constexpr (kIsCertificate) {
    syncSnis(st, e);
  }
}

template <class T>
void deleteEntity(Statements& st, const std::string& id) {
  if constexpr (std::is_same_v<T, Certificate>) {
    // The cascade would do it too; explicitly, so that a replacement that hands this
    // certificate's names to another one never depends on when cascades run.
    SQLite::Statement& snis = st.get("DELETE FROM certificate_snis WHERE certificate_id = ?");
    snis.bind(1, id);
    snis.exec();
  }
  SQLite::Statement& s = st.get(std::string("DELETE FROM ") + Table<T>::kTable + " WHERE id = ?");
  s.bind(1, id);
  s.exec();
}

void writeKey(Statements& st, const ApiKey& k, bool insert) {
  SQLite::Statement& s =
      st.get(insert ? "INSERT INTO api_keys (id, consumer_id, key_hash, prefix, expires_at, tags, "
                      "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                    : "UPDATE api_keys SET consumer_id = ?2, key_hash = ?3, prefix = ?4, "
                      "expires_at = ?5, tags = ?6, created_at = ?7 WHERE id = ?1");
  s.bind(1, k.id);
  s.bind(2, k.consumer_id);
  s.bind(3, k.key_hash);
  s.bind(4, k.prefix);
  if (k.expires_at) {
    s.bind(5, *k.expires_at);
  } else {
    s.bind(5);
  }
  s.bind(6, tagsJson(k.tags));
  s.bind(7, k.created_at);
  s.exec();
}

void deleteKey(Statements& st, const std::string& id) {
  SQLite::Statement& s = st.get("DELETE FROM api_keys WHERE id = ?");
  s.bind(1, id);
  s.exec();
}

bool keyHashExists(SQLite::Database& db, const std::string& hash) {
  SQLite::Statement q(db, "SELECT 1 FROM api_keys WHERE key_hash = ?");
  q.bind(1, hash);
  return q.executeStep();
}

json keyJson(const ApiKey& k) { return model::toJson(k, /*with_hash=*/true); }

template <class T>
Change changeOf(const std::optional<T>& before, const std::optional<T>& after) {
  Change c;
  c.entity_type = std::string(model::EntityTraits<T>::kType);
  c.entity_id = after ? after->id : before->id;
  c.before = before ? storedJson(*before) : json(nullptr);
  c.after = after ? storedJson(*after) : json(nullptr);
  return c;
}

Change keyChange(const std::optional<ApiKey>& before, const std::optional<ApiKey>& after) {
  Change c;
  c.entity_type = kApiKeyType;
  c.entity_id = after ? after->id : before->id;
  c.before = before ? keyJson(*before) : json(nullptr);
  c.after = after ? keyJson(*after) : json(nullptr);
  return c;
}

// Bumps the version and appends the history entry; returns the new version. The caller's
// transaction makes this atomic with the change itself.
int64_t recordHistory(SQLite::Database& db, const WriteOptions& options, const std::string& action,
                      const std::string& summary, const std::vector<Change>& changes) {
  db.exec("UPDATE meta SET value = value + 1 WHERE key = 'config_version'");
  const int64_t version = readVersion(db);
  SQLite::Statement h(db,
                      "INSERT INTO history (version, at, actor, action, summary) "
                      "VALUES (?, ?, ?, ?, ?)");
  h.bind(1, version);
  h.bind(2, nowSeconds());
  h.bind(3, options.actor);
  h.bind(4, action);
  h.bind(5, summary);
  h.exec();
  SQLite::Statement c(db,
                      "INSERT INTO history_changes (version, seq, entity_type, entity_id, before, "
                      "after) VALUES (?, ?, ?, ?, ?, ?)");
  for (size_t i = 0; i < changes.size(); ++i) {
    const Change& ch = changes[i];
    c.reset();
    c.bind(1, version);
    c.bind(2, static_cast<int64_t>(i));
    c.bind(3, ch.entity_type);
    c.bind(4, ch.entity_id);
    if (ch.before.is_null()) {
      c.bind(5);
    } else {
      c.bind(5, ch.before.dump());
    }
    if (ch.after.is_null()) {
      c.bind(6);
    } else {
      c.bind(6, ch.after.dump());
    }
    c.exec();
  }
  return version;
}

model::Status checkIfMatch(const WriteOptions& options, const std::optional<json>& current) {
  if (!options.if_match) return model::Ok{};
  if (!current || model::etagOf(*current) != *options.if_match) {
    return Error::preconditionFailed("If-Match does not match the current entity");
  }
  return model::Ok{};
}

// Resolves the references a single write carries (ids or names) to ids, against the database.
template <class T>
model::Status resolveReferences(SQLite::Database& db, T& e) {
  FieldErrors errors;
  auto resolvePolicies = [&](std::vector<std::string>& refs) {
    for (size_t i = 0; i < refs.size(); ++i) {
      auto id = lookupId(db, "rate_limit_policies", "name", refs[i]);
      if (id) {
        refs[i] = *id;
      } else {
        errors.push_back({"rate_limit_policies[" + std::to_string(i) + "]",
                          "rate limit policy '" + refs[i] + "' not found"});
      }
    }
  };
  if constexpr (std::is_same_v<T, Route>) {
    if (!e.service.empty()) {
      auto id = lookupId(db, "services", "name", e.service);
      if (id) {
        e.service = *id;
      } else {
        errors.push_back({"service", "service '" + e.service + "' not found"});
      }
    }
    if (e.aggregate) {
      for (size_t i = 0; i < e.aggregate->backends.size(); ++i) {
        std::string& ref = e.aggregate->backends[i].service;
        auto id = lookupId(db, "services", "name", ref);
        if (id) {
          ref = *id;
        } else {
          errors.push_back({"aggregate.backends[" + std::to_string(i) + "].service",
                            "service '" + ref + "' not found"});
        }
      }
    }
    resolvePolicies(e.rate_limit_policies);
  } else if constexpr (std::is_same_v<T, Consumer>) {
    resolvePolicies(e.rate_limit_policies);
  } else if constexpr (std::is_same_v<T, Service>) {
    if (e.tls && !e.tls->client_certificate.empty()) {
      std::string& ref = e.tls->client_certificate;
      auto id = lookupId(db, "certificates", "name", ref);
      if (id) {
        ref = *id;
      } else {
        errors.push_back({"tls.client_certificate", "certificate '" + ref + "' not found"});
      }
    }
  }
  if (!errors.empty()) return invalidRefs(std::move(errors));
  return model::Ok{};
}

// The names of what still uses an entity that is about to be deleted; empty when nothing does.
template <class T>
std::string usersOf(SQLite::Database& db, const std::string& id) {
  auto names = [&](const std::string& sql) {
    std::vector<std::string> out;
    SQLite::Statement q(db, sql);
    q.bind(1, id);
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  };
  if constexpr (std::is_same_v<T, Service>) {
    // Aggregate routes name their services only inside the document (service_id is NULL).
    auto routes = names(
        "SELECT coalesce(name, id) FROM routes WHERE service_id = ?1 OR EXISTS (SELECT 1 FROM "
        "json_each(doc, '$.aggregate.backends') b WHERE json_extract(b.value, '$.service') = ?1) "
        "ORDER BY seq");
    if (!routes.empty()) return "service is used by routes: " + joinNames(routes);
  } else if constexpr (std::is_same_v<T, RateLimitPolicy>) {
    auto routes = names(
        "SELECT DISTINCT coalesce(r.name, r.id) FROM route_policies p JOIN routes r "
        "ON r.id = p.route_id WHERE p.policy_id = ? ORDER BY r.seq");
    auto consumers = names(
        "SELECT DISTINCT c.username FROM consumer_policies p JOIN consumers c "
        "ON c.id = p.consumer_id WHERE p.policy_id = ? ORDER BY c.seq");
    std::string users;
    if (!routes.empty()) users = "routes: " + joinNames(routes);
    if (!consumers.empty()) {
      users += (users.empty() ? "" : "; ") + std::string("consumers: ") + joinNames(consumers);
    }
    if (!users.empty()) return "rate limit policy is used by " + users;
  } else if constexpr (std::is_same_v<T, Certificate>) {
    // Services name their client certificate only inside the document.
    auto services = names(
        "SELECT name FROM services WHERE json_extract(doc, '$.tls.client_certificate') = ? "
        "ORDER BY seq");
    if (!services.empty()) return "certificate is used by services: " + joinNames(services);
  }
  return "";
}

// Checks identity and uniqueness of an entity about to be inserted; fills in its id.
template <class T>
model::Status prepareInsert(SQLite::Database& db, T& e) {
  using Traits = model::EntityTraits<T>;
  if (e.id.empty()) {
    e.id = model::newUuid();
  } else if (!model::isUuid(e.id)) {
    return Error::invalidField("id", "must be a UUID");
  } else {
    e.id = canonicalRef(e.id);
    if (idExists<T>(db, e.id)) {
      return Error::conflict(std::string(Table<T>::kNoun) + " id '" + e.id + "' already exists",
                             {{"id", "already exists"}});
    }
  }
  const std::string& name = Traits::name(e);
  if (Traits::kNameRequired && name.empty()) {
    return Error::invalidField(std::string(Traits::kNameField), "is required");
  }
  if (!name.empty() && idOfName<T>(db, name)) {
    return Error::conflict(std::string(Table<T>::kNoun) + " '" + name + "' already exists",
                           {{std::string(Traits::kNameField), "already exists"}});
  }
  return model::Ok{};
}

// --- Certificates ------------------------------------------------------------------------------

// The key `have` holds, opened; nullopt when it has none or it does not open under `keyring`.
std::optional<std::string> openStoredKey(const Keyring* keyring, const Certificate* have) {
  if (keyring == nullptr || have == nullptr || have->key_encrypted.empty()) return std::nullopt;
  Result<std::string> plain = keyring->unseal(have->key_encrypted, have->id);
  if (!plain) return std::nullopt;
  return std::move(*plain);
}

// Settles where the key of `want` (whose id is final) comes from, against `have`, the stored
// certificate it replaces (null when there is none):
//  - "key" (PEM) is sealed; when it is the key `have` holds, `have`'s sealed form is kept, so
//    that sending the same key again changes nothing;
//  - "key_encrypted" must open under `keyring` for this certificate's id and be the key of
//    want.cert (when it is `have`'s key, `have`'s sealed form is kept);
//  - neither keeps `have`'s key, which must still be the key of want.cert.
// Leaves key_pem empty (wiped) and key_encrypted set. Errors name "key" or "key_encrypted"
// under `prefix` ("" or "certificates[2].").
void settleKey(const Keyring* keyring, Certificate& want, const Certificate* have,
               const std::string& prefix, FieldErrors& errors) {
  const std::string key_field = prefix + "key";
  const std::string sealed_field = prefix + "key_encrypted";
  std::optional<std::string> stored;
  auto wipeAll = [&] {
    wipe(want.key_pem);
    if (stored) wipe(*stored);
  };
  if (!want.key_pem.empty()) {
    if (keyring == nullptr) {
      errors.push_back({key_field, "cannot be stored: the server has no keyring"});
      wipeAll();
      return;
    }
    stored = openStoredKey(keyring, have);
    want.key_encrypted = stored && *stored == want.key_pem ? have->key_encrypted
                                                           : keyring->seal(want.key_pem, want.id);
    wipeAll();
    return;
  }
  if (!want.key_encrypted.empty()) {
    if (keyring == nullptr) {
      errors.push_back({sealed_field, "cannot be opened: the server has no keyring"});
      return;
    }
    const std::optional<std::string> by = Keyring::sealedBy(want.key_encrypted);
    if (by && *by != keyring->id()) {
      errors.push_back({sealed_field, "was sealed under keyring " + *by +
                                          ", not this server's keyring " + keyring->id() +
                                          " (to move a key to another keyring, send it as key)"});
      return;
    }
    Result<std::string> plain = keyring->unseal(want.key_encrypted, want.id);
    if (!plain) {
      errors.push_back({sealed_field,
                        "does not open for this certificate: sealed for another certificate id, "
                        "or altered"});
      return;
    }
    std::string mismatch = model::checkKeyMatches(want.cert, *plain);
    if (!mismatch.empty()) {
      errors.push_back({sealed_field, "holds a key that " + mismatch});
    } else {
      stored = openStoredKey(keyring, have);
      if (stored && *stored == *plain) want.key_encrypted = have->key_encrypted;
    }
    wipe(*plain);
    wipeAll();
    return;
  }
  if (have == nullptr || have->key_encrypted.empty()) {
    errors.push_back({key_field, "is required"});
    return;
  }
  want.key_encrypted = have->key_encrypted;
  if (want.cert == have->cert) return;  // the kept key was checked against this cert already
  if (keyring == nullptr) {
    errors.push_back({key_field,
                      "is required with a new cert: the server has no keyring to check "
                      "the stored key against it"});
    return;
  }
  stored = openStoredKey(keyring, have);
  if (!stored) {
    errors.push_back({key_field,
                      "is required with a new cert: the stored key does not open under this "
                      "server's keyring"});
    return;
  }
  if (!model::checkKeyMatches(want.cert, *stored).empty()) {
    errors.push_back({key_field,
                      "is required with a new cert: the stored key is not the private key of its "
                      "leaf certificate"});
  }
  wipeAll();
}

model::Status settleKeyOf(const Keyring* keyring, Certificate& want, const Certificate* have) {
  FieldErrors errors;
  settleKey(keyring, want, have, "", errors);
  if (errors.empty()) return model::Ok{};
  return invalidRefs(std::move(errors));
}

// A certificate about to be written must not claim what another one holds: one of its SNIs
// (kConflict naming "snis[i]"), or being the default (kConflict naming "default").
model::Status checkCertificateClaims(SQLite::Database& db, const Certificate& c) {
  FieldErrors conflicts;
  SQLite::Statement q(db,
                      "SELECT c.name FROM certificate_snis s JOIN certificates c "
                      "ON c.id = s.certificate_id WHERE s.sni = ? AND s.certificate_id <> ?");
  for (size_t i = 0; i < c.snis.size(); ++i) {
    q.reset();
    q.bind(1, c.snis[i]);
    q.bind(2, c.id);
    if (q.executeStep()) {
      conflicts.push_back(
          {"snis[" + std::to_string(i) + "]",
           "is already served by certificate '" + q.getColumn(0).getString() + "'"});
    }
  }
  if (c.is_default) {
    SQLite::Statement d(db, "SELECT name FROM certificates WHERE is_default = 1 AND id <> ?");
    d.bind(1, c.id);
    if (d.executeStep()) {
      conflicts.push_back(
          {"default", "certificate '" + d.getColumn(0).getString() + "' is already the default"});
    }
  }
  if (conflicts.empty()) return model::Ok{};
  std::string message = conflicts.size() == 1
                            ? conflicts.front().field + ": " + conflicts.front().message
                            : "the certificate claims what other certificates hold";
  return Error::conflict(std::move(message), std::move(conflicts));
}

// Checks and seals a certificate of a single write (create or put), once its id is final.
template <class T>
model::Status prepareEntityWrite(SQLite::Database& db, const Keyring* keyring, T& e,
                                 const std::optional<T>& current) {
  if constexpr (std::is_same_v<T, Certificate>) {
    if (auto ok = checkCertificateClaims(db, e); !ok) return ok;
    return settleKeyOf(keyring, e, current ? &*current : nullptr);
  } else {
    (void)db;
    (void)keyring;
    (void)e;
    (void)current;
    return model::Ok{};
  }
}

// --- Whole-configuration replacement ---------------------------------------------------------

// One entity of the wanted configuration and the current entity it replaces, if any.
template <class T>
struct Slot {
  T want;
  std::optional<T> have;
};

template <class T>
struct Plan {
  std::vector<Slot<T>> slots;              // document order
  std::vector<T> removed;                  // current entities no slot matched, in current order
  std::map<std::string, std::string> ids;  // id or name as the document wrote it -> final id
};

std::string indexed(const std::string& collection, size_t i) {
  return collection + "[" + std::to_string(i) + "]";
}

// Matches wanted entities to current ones: by id first, then (for the rest) by name. A match
// keeps the current id, so that references by id elsewhere and state keyed by id (rate-limit
// counters, pools) survive an import.
template <class T>
Plan<T> matchEntities(std::vector<T> wanted, const std::vector<T>& current, FieldErrors& errors) {
  using Traits = model::EntityTraits<T>;
  const std::string collection = Table<T>::kTable;
  std::map<std::string, size_t> current_by_id, current_by_name;
  for (size_t j = 0; j < current.size(); ++j) {
    current_by_id[current[j].id] = j;
    const std::string& name = Traits::name(current[j]);
    if (!name.empty()) current_by_name[name] = j;
  }
  std::vector<bool> taken(current.size(), false);
  std::vector<std::optional<size_t>> match(wanted.size());
  std::set<std::string> seen_ids, seen_names;
  for (size_t i = 0; i < wanted.size(); ++i) {
    T& w = wanted[i];
    if (!w.id.empty()) {
      if (!model::isUuid(w.id)) {
        errors.push_back({indexed(collection, i) + ".id", "must be a UUID"});
      } else {
        w.id = canonicalRef(w.id);
        if (!seen_ids.insert(w.id).second) {
          errors.push_back({indexed(collection, i) + ".id", "duplicate id"});
        } else if (auto it = current_by_id.find(w.id); it != current_by_id.end()) {
          match[i] = it->second;
          taken[it->second] = true;
        }
      }
    }
    const std::string& name = Traits::name(w);
    const std::string name_field = indexed(collection, i) + "." + std::string(Traits::kNameField);
    if (Traits::kNameRequired && name.empty()) errors.push_back({name_field, "is required"});
    if (!name.empty() && !seen_names.insert(name).second) {
      errors.push_back({name_field, "duplicate name"});
    }
  }
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (match[i]) continue;
    const std::string& name = Traits::name(wanted[i]);
    if (name.empty()) continue;
    if (auto it = current_by_name.find(name); it != current_by_name.end() && !taken[it->second]) {
      match[i] = it->second;
      taken[it->second] = true;
    }
  }

  Plan<T> plan;
  for (size_t i = 0; i < wanted.size(); ++i) {
    T& w = wanted[i];
    const std::string given_id = w.id;
    if (match[i]) {
      w.id = current[*match[i]].id;
    } else if (w.id.empty() || !model::isUuid(w.id)) {
      w.id = model::newUuid();
    }
    if (!given_id.empty()) plan.ids[given_id] = w.id;
    plan.ids[w.id] = w.id;
    if (!Traits::name(w).empty()) plan.ids[Traits::name(w)] = w.id;
    Slot<T> slot{std::move(w), std::nullopt};
    if (match[i]) slot.have = current[*match[i]];
    plan.slots.push_back(std::move(slot));
  }
  for (size_t j = 0; j < current.size(); ++j) {
    if (!taken[j]) plan.removed.push_back(current[j]);
  }
  return plan;
}

// Timestamps: given ones are kept; missing ones come from the matched entity, and an entity
// whose content changed gets updated_at = now. Returns whether the slot changes anything.
template <class T>
bool settleTimestamps(Slot<T>& slot, int64_t now) {
  T& w = slot.want;
  if (!slot.have) {
    if (w.created_at == 0) w.created_at = now;
    if (w.updated_at == 0) w.updated_at = now;
    return true;
  }
  const bool explicit_update = w.updated_at != 0;
  if (w.created_at == 0) w.created_at = slot.have->created_at;
  if (!explicit_update) w.updated_at = slot.have->updated_at;
  if (storedJson(w) == storedJson(*slot.have)) return false;
  if (!explicit_update) w.updated_at = now;
  return true;
}

struct ReplaceOutcome {
  std::vector<Change> changes;
  size_t created = 0, updated = 0, deleted = 0;
};

template <class T>
void applyDeletes(Statements& st, const Plan<T>& plan, ReplaceOutcome& out) {
  for (const T& e : plan.removed) {
    deleteEntity<T>(st, e.id);
    out.changes.push_back(changeOf<T>(e, std::nullopt));
    ++out.deleted;
  }
}

// Renamed entities first move to a placeholder name, so that swapping names between two
// entities does not trip the UNIQUE constraint halfway.
template <class T>
void releaseNames(SQLite::Database& db, const Plan<T>& plan) {
  using Traits = model::EntityTraits<T>;
  SQLite::Statement s(db, std::string("UPDATE ") + Table<T>::kTable + " SET " +
                              Table<T>::kNameColumn + " = ? WHERE id = ?");
  for (const Slot<T>& slot : plan.slots) {
    if (!slot.have || Traits::name(slot.want) == Traits::name(*slot.have)) continue;
    s.reset();
    if constexpr (std::is_same_v<T, Route>) {
      s.bind(1);
    } else {
      s.bind(1, "\x01" + slot.want.id);  // never a valid name
    }
    s.bind(2, slot.want.id);
    s.exec();
  }
}

// Certificates that change give up their SNIs and default flag first, for the same reason:
// two certificates may swap them within one replacement.
void releaseClaims(Statements& st, const Plan<Certificate>& plan,
                   const std::vector<bool>& changed) {
  for (size_t i = 0; i < plan.slots.size(); ++i) {
    if (!plan.slots[i].have || !changed[i]) continue;
    const std::string& id = plan.slots[i].want.id;
    SQLite::Statement& snis = st.get("DELETE FROM certificate_snis WHERE certificate_id = ?");
    snis.bind(1, id);
    snis.exec();
    SQLite::Statement& flag = st.get("UPDATE certificates SET is_default = 0 WHERE id = ?");
    flag.bind(1, id);
    flag.exec();
  }
}

// What the certificates of one document claim must not collide among themselves: an SNI in
// two of them, or two defaults (kConflict-worthy; the database is replaced wholesale, so the
// document is all there is to compare).
void checkDocumentClaims(const Plan<Certificate>& plan, FieldErrors& conflicts) {
  std::map<std::string, size_t> owner;  // sni -> index
  std::optional<size_t> default_at;
  for (size_t i = 0; i < plan.slots.size(); ++i) {
    const Certificate& c = plan.slots[i].want;
    for (size_t j = 0; j < c.snis.size(); ++j) {
      auto [it, fresh] = owner.emplace(c.snis[j], i);
      if (!fresh) {
        conflicts.push_back({indexed("certificates", i) + ".snis[" + std::to_string(j) + "]",
                             "is also a server name of " + indexed("certificates", it->second)});
      }
    }
    if (c.is_default) {
      if (default_at) {
        conflicts.push_back({indexed("certificates", i) + ".default",
                             indexed("certificates", *default_at) + " is already the default"});
      } else {
        default_at = i;
      }
    }
  }
}

template <class T>
void applyUpdates(Statements& st, const Plan<T>& plan, const std::vector<bool>& changed,
                  ReplaceOutcome& out) {
  for (size_t i = 0; i < plan.slots.size(); ++i) {
    const Slot<T>& slot = plan.slots[i];
    if (!slot.have || !changed[i]) continue;
    writeEntity(st, slot.want, /*insert=*/false);
    out.changes.push_back(changeOf<T>(slot.have, slot.want));
    ++out.updated;
  }
}

template <class T>
void applyCreates(Statements& st, const Plan<T>& plan, ReplaceOutcome& out) {
  for (const Slot<T>& slot : plan.slots) {
    if (slot.have) continue;
    writeEntity(st, slot.want, /*insert=*/true);
    out.changes.push_back(changeOf<T>(std::nullopt, slot.want));
    ++out.created;
  }
}

template <class T>
std::vector<bool> settleAll(Plan<T>& plan, int64_t now) {
  std::vector<bool> changed;
  for (Slot<T>& slot : plan.slots) changed.push_back(settleTimestamps(slot, now));
  return changed;
}

struct ReplaceResult {
  ConfigReplaced replaced;
  bool committed = false;
};

// Replaces the configuration inside one write transaction of its own. With dry_run the
// transaction is rolled back after everything was applied, so a dry run checks exactly what a
// real one would.
Result<ReplaceResult> replaceConfigTx(SQLite::Database& db, DecodedDocs& decoded,
                                      const Keyring* keyring, model::Config config,
                                      const WriteOptions& options, bool dry_run,
                                      const std::string& action, const std::string& what) {
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  Statements st(db);
  // Entities move in dependency order below, but a wholesale replacement can still need a
  // moment where a reference dangles (a route moving to a service created later in the same
  // document); foreign keys are checked at commit instead. Resets itself at the end of the
  // transaction.
  db.exec("PRAGMA defer_foreign_keys = ON");

  Result<model::Config> current = loadConfigTx(db, decoded);
  if (!current) return current.error();
  const int64_t now = nowSeconds();

  FieldErrors errors;
  Plan<RateLimitPolicy> policies =
      matchEntities(std::move(config.rate_limit_policies), current->rate_limit_policies, errors);
  Plan<Service> services = matchEntities(std::move(config.services), current->services, errors);
  Plan<Consumer> consumers = matchEntities(std::move(config.consumers), current->consumers, errors);
  Plan<Route> routes = matchEntities(std::move(config.routes), current->routes, errors);
  Plan<Certificate> certificates =
      matchEntities(std::move(config.certificates), current->certificates, errors);
  FieldErrors conflicts;
  checkDocumentClaims(certificates, conflicts);
  // Every id is final now: keys can be sealed and opened.
  for (size_t i = 0; i < certificates.slots.size(); ++i) {
    Slot<Certificate>& slot = certificates.slots[i];
    settleKey(keyring, slot.want, slot.have ? &*slot.have : nullptr,
              indexed("certificates", i) + ".", errors);
  }

  auto resolve = [&errors](const std::map<std::string, std::string>& ids, std::string& ref,
                           const std::string& field, const char* noun) {
    auto it = ids.find(canonicalRef(ref));
    if (it == ids.end()) {
      errors.push_back(
          {field, std::string(noun) + " '" + ref + "' not found in the configuration"});
    } else {
      ref = it->second;
    }
  };
  auto resolvePolicies = [&](std::vector<std::string>& refs, const std::string& prefix) {
    for (size_t k = 0; k < refs.size(); ++k) {
      resolve(policies.ids, refs[k], prefix + ".rate_limit_policies[" + std::to_string(k) + "]",
              "rate limit policy");
    }
  };
  for (size_t i = 0; i < routes.slots.size(); ++i) {
    Route& r = routes.slots[i].want;
    const std::string prefix = indexed("routes", i);
    if (!r.service.empty()) resolve(services.ids, r.service, prefix + ".service", "service");
    if (r.aggregate) {
      for (size_t k = 0; k < r.aggregate->backends.size(); ++k) {
        resolve(services.ids, r.aggregate->backends[k].service,
                prefix + ".aggregate.backends[" + std::to_string(k) + "].service", "service");
      }
    }
    resolvePolicies(r.rate_limit_policies, prefix);
  }
  for (size_t i = 0; i < consumers.slots.size(); ++i) {
    resolvePolicies(consumers.slots[i].want.rate_limit_policies, indexed("consumers", i));
  }
  for (size_t i = 0; i < services.slots.size(); ++i) {
    std::optional<model::ServiceTls>& tls = services.slots[i].want.tls;
    if (tls && !tls->client_certificate.empty()) {
      resolve(certificates.ids, tls->client_certificate,
              indexed("services", i) + ".tls.client_certificate", "certificate");
    }
  }

  // API keys have no name: matched by id, else by key hash.
  std::map<std::string, size_t> keys_by_id, keys_by_hash;
  for (size_t j = 0; j < current->api_keys.size(); ++j) {
    keys_by_id[current->api_keys[j].id] = j;
    keys_by_hash[current->api_keys[j].key_hash] = j;
  }
  std::vector<bool> key_taken(current->api_keys.size(), false);
  std::vector<Slot<ApiKey>> keys;
  std::set<std::string> seen_key_ids, seen_hashes;
  for (size_t i = 0; i < config.api_keys.size(); ++i) {
    ApiKey k = std::move(config.api_keys[i]);
    const std::string prefix = indexed("api_keys", i);
    resolve(consumers.ids, k.consumer_id, prefix + ".consumer", "consumer");
    if (k.key_hash.empty()) errors.push_back({prefix + ".key_hash", "is required"});
    if (!seen_hashes.insert(k.key_hash).second) {
      errors.push_back({prefix + ".key_hash", "duplicate key"});
    }
    std::optional<size_t> match;
    if (!k.id.empty()) {
      if (!model::isUuid(k.id)) {
        errors.push_back({prefix + ".id", "must be a UUID"});
      } else {
        k.id = canonicalRef(k.id);
        if (!seen_key_ids.insert(k.id).second) errors.push_back({prefix + ".id", "duplicate id"});
        if (auto it = keys_by_id.find(k.id); it != keys_by_id.end() && !key_taken[it->second]) {
          match = it->second;
        }
      }
    }
    keys.push_back({std::move(k), std::nullopt});
    if (match) {
      key_taken[*match] = true;
      keys.back().have = current->api_keys[*match];
    }
  }
  for (Slot<ApiKey>& slot : keys) {
    if (slot.have) continue;
    if (auto it = keys_by_hash.find(slot.want.key_hash);
        it != keys_by_hash.end() && !key_taken[it->second]) {
      key_taken[it->second] = true;
      slot.have = current->api_keys[it->second];
    }
  }

  if (!errors.empty()) return invalidRefs(std::move(errors));
  if (!conflicts.empty()) {
    std::string message = conflicts.size() == 1
                              ? conflicts.front().field + ": " + conflicts.front().message
                              : "certificates claim the same server names or default";
    return Error::conflict(std::move(message), std::move(conflicts));
  }

  std::vector<bool> key_changed;
  for (Slot<ApiKey>& slot : keys) {
    ApiKey& k = slot.want;
    if (slot.have) {
      k.id = slot.have->id;
      if (k.created_at == 0) k.created_at = slot.have->created_at;
      key_changed.push_back(!(k == *slot.have));
    } else {
      if (k.id.empty()) k.id = model::newUuid();
      if (k.created_at == 0) k.created_at = now;
      key_changed.push_back(true);
    }
  }
  const std::vector<bool> policy_changed = settleAll(policies, now);
  const std::vector<bool> service_changed = settleAll(services, now);
  const std::vector<bool> consumer_changed = settleAll(consumers, now);
  const std::vector<bool> route_changed = settleAll(routes, now);
  const std::vector<bool> certificate_changed = settleAll(certificates, now);

  ReplaceOutcome out;
  // Deletes first (dependents before what they depend on), so that freed names and key hashes
  // can be taken by updates and creates.
  for (size_t j = 0; j < current->api_keys.size(); ++j) {
    if (key_taken[j]) continue;
    deleteKey(st, current->api_keys[j].id);
    out.changes.push_back(keyChange(current->api_keys[j], std::nullopt));
    ++out.deleted;
  }
  // Kept keys move to their (possibly new) consumer before any consumer is deleted, so that the
  // ON DELETE CASCADE of a consumer that goes away cannot take them along.
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!keys[i].have || !key_changed[i]) continue;
    writeKey(st, keys[i].want, /*insert=*/false);
    out.changes.push_back(keyChange(keys[i].have, keys[i].want));
    ++out.updated;
  }
  applyDeletes(st, routes, out);
  applyDeletes(st, consumers, out);
  applyDeletes(st, services, out);
  applyDeletes(st, policies, out);
  applyDeletes(st, certificates, out);

  releaseNames(db, policies);
  releaseNames(db, services);
  releaseNames(db, consumers);
  releaseNames(db, routes);
  releaseNames(db, certificates);
  releaseClaims(st, certificates, certificate_changed);
  applyUpdates(st, policies, policy_changed, out);
  applyUpdates(st, services, service_changed, out);
  applyUpdates(st, consumers, consumer_changed, out);
  applyUpdates(st, routes, route_changed, out);
  applyUpdates(st, certificates, certificate_changed, out);

  applyCreates(st, policies, out);
  applyCreates(st, services, out);
  applyCreates(st, consumers, out);
  applyCreates(st, routes, out);
  applyCreates(st, certificates, out);
  for (const Slot<ApiKey>& slot : keys) {
    if (slot.have) continue;
    writeKey(st, slot.want, /*insert=*/true);
    out.changes.push_back(keyChange(std::nullopt, slot.want));
    ++out.created;
  }

  ReplaceResult result;
  result.replaced.version = current->version;
  if (out.changes.empty()) return result;  // nothing to record; the transaction rolls back

  const std::string summary = what + ": " + std::to_string(out.created) + " created, " +
                              std::to_string(out.updated) + " updated, " +
                              std::to_string(out.deleted) + " deleted";
  const int64_t version = recordHistory(db, options, action, summary, out.changes);
  result.replaced.changes = std::move(out.changes);
  if (dry_run) {
    // Surface dangling references that a real run would only meet at COMMIT.
    SQLite::Statement fk(db, "PRAGMA foreign_key_check");
    if (fk.executeStep()) {
      return Error::invalid("the configuration leaves a reference to a missing entity");
    }
    return result;  // the transaction's destructor rolls everything back
  }
  tx.commit();
  result.replaced.version = version;
  result.committed = true;
  return result;
}

// Parses one entity's history JSON back into the model type.
template <class T>
Result<T> fromHistory(const json& j) {
  Result<T> r = model::EntityTraits<T>::parse(j);
  if (!r) {
    return Error::internal(std::string("history holds an unreadable ") + Table<T>::kNoun + ": " +
                           r.error().message);
  }
  return r;
}

// Reconstructs the configuration right after `version` by undoing, newest first, every change
// recorded after it, starting from the current configuration.
Result<model::Config> configAtTx(SQLite::Database& db, DecodedDocs& decoded, int64_t version) {
  Result<model::Config> current = loadConfigTx(db, decoded);
  if (!current) return current.error();
  if (version < 0 || version > current->version) {
    return Error::notFound("config version " + std::to_string(version) + " not found");
  }
  if (version == current->version) return current;

  // Per entity type: what exists (id -> API form) and in which order.
  struct TypeState {
    std::vector<std::string> kept;     // current ids, current (insertion) order
    std::vector<std::string> revived;  // ids brought back by undoing deletes, newest first
    std::set<std::string> known;       // ids in either list
    std::unordered_map<std::string, json> docs;  // absent: did not exist at `version`
  };
  std::map<std::string, TypeState> state;
  auto keep = [&state](const std::string& type, const std::string& id, json doc) {
    TypeState& t = state[type];
    t.kept.push_back(id);
    t.known.insert(id);
    t.docs.emplace(id, std::move(doc));
  };
  for (const auto& e : current->services) keep("service", e.id, model::toJson(e));
  for (const auto& e : current->routes) keep("route", e.id, model::toJson(e));
  for (const auto& e : current->consumers) keep("consumer", e.id, model::toJson(e));
  for (const auto& e : current->rate_limit_policies) {
    keep("rate_limit_policy", e.id, model::toJson(e));
  }
  for (const auto& e : current->certificates) keep("certificate", e.id, storedJson(e));
  for (const auto& k : current->api_keys) keep(kApiKeyType, k.id, keyJson(k));

  SQLite::Statement q(db,
                      "SELECT entity_type, entity_id, before FROM history_changes "
                      "WHERE version > ? ORDER BY version DESC, seq DESC");
  q.bind(1, version);
  while (q.executeStep()) {
    TypeState& t = state[q.getColumn(0).getString()];
    const std::string id = q.getColumn(1).getString();
    json before = jsonOrNull(q.getColumn(2));
    if (before.is_null()) {
      t.docs.erase(id);
      continue;
    }
    if (t.known.insert(id).second) t.revived.push_back(id);
    t.docs[id] = std::move(before);
  }

  // Where a revived entity used to sit is not recorded; creation time places it near there
  // (insertion order is what lists and route tie-breaks follow). Surviving entities keep their
  // order; among revived ones with equal times, the one deleted first comes first.
  auto ordered = [](TypeState& t) {
    auto created = [&t](const std::string& id) {
      return t.docs.at(id).value("created_at", int64_t{0});
    };
    std::vector<std::string> kept, revived, out;
    for (const std::string& id : t.kept) {
      if (t.docs.count(id)) kept.push_back(id);
    }
    for (auto it = t.revived.rbegin(); it != t.revived.rend(); ++it) {
      if (t.docs.count(*it)) revived.push_back(*it);
    }
    std::stable_sort(revived.begin(), revived.end(),
                     [&](const auto& a, const auto& b) { return created(a) < created(b); });
    size_t i = 0, j = 0;
    while (i < kept.size() || j < revived.size()) {
      if (j == revived.size() || (i < kept.size() && created(kept[i]) <= created(revived[j]))) {
        out.push_back(kept[i++]);
      } else {
        out.push_back(revived[j++]);
      }
    }
    std::vector<json> docs;
    for (const std::string& id : out) docs.push_back(std::move(t.docs.at(id)));
    return docs;
  };

  model::Config c;
  c.version = version;
  for (const json& j : ordered(state["service"])) {
    auto e = fromHistory<Service>(j);
    if (!e) return e.error();
    c.services.push_back(std::move(*e));
  }
  for (const json& j : ordered(state["route"])) {
    auto e = fromHistory<Route>(j);
    if (!e) return e.error();
    c.routes.push_back(std::move(*e));
  }
  for (const json& j : ordered(state["consumer"])) {
    auto e = fromHistory<Consumer>(j);
    if (!e) return e.error();
    c.consumers.push_back(std::move(*e));
  }
  for (const json& j : ordered(state["rate_limit_policy"])) {
    auto e = fromHistory<RateLimitPolicy>(j);
    if (!e) return e.error();
    c.rate_limit_policies.push_back(std::move(*e));
  }
  for (const json& j : ordered(state["certificate"])) {
    auto e = fromHistory<Certificate>(j);
    if (!e) return e.error();
    c.certificates.push_back(std::move(*e));
  }
  for (const json& j : ordered(state[kApiKeyType])) {
    auto k = model::parseExportedApiKey(j);
    if (!k) return Error::internal("history holds an unreadable api key: " + k.error().message);
    c.api_keys.push_back(std::move(*k));
  }
  return c;
}

}  // namespace

// --- ConfigStore --------------------------------------------------------------------------------

ConfigStore::ConfigStore(std::string path, std::unique_ptr<SQLite::Database> db,
                         std::shared_ptr<ChangeFeed> feed, std::shared_ptr<const Keyring> keyring)
    : path_(std::move(path)),
      db_(std::move(db)),
      decoded_(std::make_unique<DecodedDocs>()),
      feed_(std::move(feed)),
      keyring_(std::move(keyring)) {}

ConfigStore::~ConfigStore() = default;

model::Result<std::unique_ptr<ConfigStore>> ConfigStore::open(
    const std::string& path, std::shared_ptr<ChangeFeed> feed,
    std::shared_ptr<const Keyring> keyring) {
  return guarded([&]() -> model::Result<std::unique_ptr<ConfigStore>> {
    auto db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
                                                 kBusyTimeoutMs);
    // WAL lets the proxy's config loads and other processes read while an admin write runs;
    // FULL makes a commit durable before the write is acknowledged (writes are rare).
    db->exec("PRAGMA journal_mode = WAL");
    db->exec("PRAGMA synchronous = FULL");
    db->exec("PRAGMA foreign_keys = ON");
    auto migrated = migrate(*db, embeddedMigrations());
    if (!migrated) return migrated.error();
    return std::unique_ptr<ConfigStore>(
        new ConfigStore(path, std::move(db), std::move(feed), std::move(keyring)));
  });
}

template <class T>
model::Result<T> ConfigStore::get(std::string_view id_or_name) {
  std::lock_guard lock(mu_);
  return guarded([&]() -> Result<T> { return requireEntity<T>(*db_, id_or_name); });
}

template <class T>
model::Result<Page<T>> ConfigStore::list(const ListQuery& query) {
  std::lock_guard lock(mu_);
  return guarded([&]() -> Result<Page<T>> {
    Result<int64_t> after = validateQuery(query);
    if (!after) return after.error();
    const std::vector<std::string> tags = distinctTags(query.tags);
    SQLite::Statement q(*db_, std::string("SELECT seq, doc FROM ") + Table<T>::kTable +
                                  " AS t WHERE seq > ?" + tagFilterSql("t", tags) +
                                  " ORDER BY seq LIMIT ?");
    int index = 1;
    q.bind(index++, *after);
    for (const std::string& tag : tags) q.bind(index++, tag);
    q.bind(index, static_cast<int64_t>(query.size + 1));
    Page<T> page;
    int64_t last_seq = 0;
    while (q.executeStep()) {
      if (page.data.size() == query.size) {
        page.next = cursorOf(last_seq);
        break;
      }
      last_seq = q.getColumn(0).getInt64();
      Result<T> e = decodeDoc<T>(q.getColumn(1).getString());
      if (!e) return e.error();
      page.data.push_back(std::move(*e));
    }
    return page;
  });
}

template <class T>
model::Result<Written<T>> ConfigStore::create(T entity, const WriteOptions& options) {
  std::unique_lock lock(mu_);
  auto r = guarded([&]() -> Result<Written<T>> {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    Statements st(*db_);
    if (auto ok = prepareInsert(*db_, entity); !ok) return ok.error();
    if (auto ok = resolveReferences(*db_, entity); !ok) return ok.error();
    if (auto ok = prepareEntityWrite<T>(*db_, keyring_.get(), entity, std::nullopt); !ok) {
      return ok.error();
    }
    entity.created_at = entity.updated_at = nowSeconds();
    writeEntity(st, entity, /*insert=*/true);
    const int64_t version =
        recordHistory(*db_, options, "create",
                      "create " + std::string(Table<T>::kNoun) + " " + displayName(entity),
                      {changeOf<T>(std::nullopt, entity)});
    tx.commit();
    return Written<T>{std::move(entity), version, true};
  });
  lock.unlock();
  if (r && feed_) feed_->publish(r->version);
  return r;
}

template <class T>
model::Result<Written<T>> ConfigStore::put(std::string_view id_or_name, T entity,
                                           const WriteOptions& options) {
  using Traits = model::EntityTraits<T>;
  std::unique_lock lock(mu_);
  bool wrote = false;
  auto r = guarded([&]() -> Result<Written<T>> {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    Statements st(*db_);
    Result<std::optional<T>> found = findEntity<T>(*db_, id_or_name);
    if (!found) return found.error();
    const std::optional<T>& current = *found;
    if (auto ok = checkIfMatch(
            options, current ? std::optional<json>(model::toJson(*current)) : std::nullopt);
        !ok) {
      return ok.error();
    }
    const std::string ref = canonicalRef(id_or_name);
    const bool by_id = model::isUuid(ref);
    std::string& name = Traits::name(entity);
    const std::string name_field(Traits::kNameField);
    if (!entity.id.empty() && canonicalRef(entity.id) != (current ? current->id : ref) &&
        (current || by_id)) {
      return Error::invalidField("id", "does not match the entity addressed");
    }
    if (!by_id) {
      if (!name.empty() && name != ref) {
        return Error::invalidField(name_field, "does not match the name addressed");
      }
      name = ref;  // the name in the address holds when the body leaves it out
    }

    if (!current) {
      if (by_id) entity.id = ref;
      if (auto ok = prepareInsert(*db_, entity); !ok) return ok.error();
      if (auto ok = resolveReferences(*db_, entity); !ok) return ok.error();
      if (auto ok = prepareEntityWrite<T>(*db_, keyring_.get(), entity, std::nullopt); !ok) {
        return ok.error();
      }
      entity.created_at = entity.updated_at = nowSeconds();
      writeEntity(st, entity, /*insert=*/true);
      const int64_t version =
          recordHistory(*db_, options, "create",
                        "create " + std::string(Table<T>::kNoun) + " " + displayName(entity),
                        {changeOf<T>(std::nullopt, entity)});
      tx.commit();
      wrote = true;
      return Written<T>{std::move(entity), version, true};
    }

    entity.id = current->id;
    if (Traits::kNameRequired && name.empty())
      return Error::invalidField(name_field, "is required");
    if (!name.empty() && name != Traits::name(*current)) {
      if (idOfName<T>(*db_, name)) {
        return Error::conflict(std::string(Table<T>::kNoun) + " '" + name + "' already exists",
                               {{name_field, "already exists"}});
      }
    }
    if (auto ok = resolveReferences(*db_, entity); !ok) return ok.error();
    if (auto ok = prepareEntityWrite<T>(*db_, keyring_.get(), entity, current); !ok) {
      return ok.error();
    }
    entity.created_at = current->created_at;
    entity.updated_at = current->updated_at;
    if (storedJson(entity) == storedJson(*current)) {
      // Same content: nothing to commit, so no new version and no history entry.
      return Written<T>{std::move(entity), readVersion(*db_), false};
    }
    entity.updated_at = nowSeconds();
    writeEntity(st, entity, /*insert=*/false);
    const int64_t version =
        recordHistory(*db_, options, "update",
                      "update " + std::string(Table<T>::kNoun) + " " + displayName(entity),
                      {changeOf<T>(current, entity)});
    tx.commit();
    wrote = true;
    return Written<T>{std::move(entity), version, false};
  });
  lock.unlock();
  if (r && wrote && feed_) feed_->publish(r->version);
  return r;
}

template <class T>
model::Result<Deleted> ConfigStore::remove(std::string_view id_or_name,
                                           const WriteOptions& options) {
  std::unique_lock lock(mu_);
  auto r = guarded([&]() -> Result<Deleted> {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    Statements st(*db_);
    Result<T> current = requireEntity<T>(*db_, id_or_name);
    if (!current) {
      if (current.error().code == model::ErrorCode::kNotFound && options.if_match) {
        return Error::preconditionFailed("If-Match given but the entity does not exist");
      }
      return current.error();
    }
    if (auto ok = checkIfMatch(options, model::toJson(*current)); !ok) return ok.error();
    if (std::string users = usersOf<T>(*db_, current->id); !users.empty()) {
      // A certificate still presented by services is kConflict (409); a service or policy in
      // use stays kInvalid (400), as it always answered.
      if constexpr (std::is_same_v<T, Certificate>) return Error::conflict(std::move(users));
      return Error::invalid(std::move(users));
    }
    std::vector<Change> changes;
    if constexpr (std::is_same_v<T, Consumer>) {
      // Each key is deleted (and recorded) on its own so that a restore brings it back.
      for (const ApiKey& k : loadKeys(*db_, current->id)) {
        deleteKey(st, k.id);
        changes.push_back(keyChange(k, std::nullopt));
      }
    }
    deleteEntity<T>(st, current->id);
    changes.push_back(changeOf<T>(*current, std::nullopt));
    const int64_t version = recordHistory(
        *db_, options, "delete",
        "delete " + std::string(Table<T>::kNoun) + " " + displayName(*current), changes);
    tx.commit();
    return Deleted{version};
  });
  lock.unlock();
  if (r && feed_) feed_->publish(r->version);
  return r;
}

model::Result<Written<ApiKey>> ConfigStore::createKey(std::string_view consumer, ApiKey key,
                                                      const WriteOptions& options) {
  std::unique_lock lock(mu_);
  auto r = guarded([&]() -> Result<Written<ApiKey>> {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    Statements st(*db_);
    Result<Consumer> owner = requireEntity<Consumer>(*db_, consumer);
    if (!owner) return owner.error();
    key.consumer_id = owner->id;
    if (key.id.empty()) {
      key.id = model::newUuid();
    } else if (!model::isUuid(key.id)) {
      return Error::invalidField("id", "must be a UUID");
    } else {
      key.id = canonicalRef(key.id);
      SQLite::Statement q(*db_, "SELECT 1 FROM api_keys WHERE id = ?");
      q.bind(1, key.id);
      if (q.executeStep()) {
        return Error::conflict("api key id '" + key.id + "' already exists",
                               {{"id", "already exists"}});
      }
    }
    if (key.key_hash.empty()) return Error::invalidField("key", "is required");
    if (keyHashExists(*db_, key.key_hash)) {
      return Error::conflict("this key is already in use", {{"key", "already exists"}});
    }
    key.created_at = nowSeconds();
    writeKey(st, key, /*insert=*/true);
    const int64_t version =
        recordHistory(*db_, options, "create",
                      "create api key " + key.prefix + " for consumer " + owner->username,
                      {keyChange(std::nullopt, key)});
    tx.commit();
    return Written<ApiKey>{std::move(key), version, true};
  });
  lock.unlock();
  if (r && feed_) feed_->publish(r->version);
  return r;
}

model::Result<Page<ApiKey>> ConfigStore::listKeys(std::string_view consumer,
                                                  const ListQuery& query) {
  std::lock_guard lock(mu_);
  return guarded([&]() -> Result<Page<ApiKey>> {
    Result<int64_t> after = validateQuery(query);
    if (!after) return after.error();
    SQLite::Transaction tx(*db_);  // the consumer and its keys at one version
    Result<Consumer> owner = requireEntity<Consumer>(*db_, consumer);
    if (!owner) return owner.error();
    const std::vector<std::string> tags = distinctTags(query.tags);
    SQLite::Statement q(*db_, std::string("SELECT seq, ") + kKeyColumns +
                                  " FROM api_keys AS t WHERE consumer_id = ? AND seq > ?" +
                                  tagFilterSql("t", tags) + " ORDER BY seq LIMIT ?");
    int index = 1;
    q.bind(index++, owner->id);
    q.bind(index++, *after);
    for (const std::string& tag : tags) q.bind(index++, tag);
    q.bind(index, static_cast<int64_t>(query.size + 1));
    Page<ApiKey> page;
    int64_t last_seq = 0;
    while (q.executeStep()) {
      if (page.data.size() == query.size) {
        page.next = cursorOf(last_seq);
        break;
      }
      last_seq = q.getColumn(0).getInt64();
      ApiKey k;
      k.id = q.getColumn(1).getString();
      k.consumer_id = q.getColumn(2).getString();
      k.key_hash = q.getColumn(3).getString();
      k.prefix = q.getColumn(4).getString();
      if (!q.getColumn(5).isNull()) k.expires_at = q.getColumn(5).getInt64();
      k.tags = json::parse(q.getColumn(6).getString()).get<std::vector<std::string>>();
      k.created_at = q.getColumn(7).getInt64();
      page.data.push_back(std::move(k));
    }
    tx.commit();
    return page;
  });
}

model::Result<ApiKey> ConfigStore::getKey(std::string_view consumer, std::string_view key_id) {
  std::lock_guard lock(mu_);
  return guarded([&]() -> Result<ApiKey> {
    SQLite::Transaction tx(*db_);
    Result<Consumer> owner = requireEntity<Consumer>(*db_, consumer);
    if (!owner) return owner.error();
    std::optional<ApiKey> key = findKey(*db_, owner->id, key_id);
    if (!key) return notFound("api key", key_id);
    tx.commit();
    return std::move(*key);
  });
}

model::Result<Deleted> ConfigStore::removeKey(std::string_view consumer, std::string_view key_id,
                                              const WriteOptions& options) {
  std::unique_lock lock(mu_);
  auto r = guarded([&]() -> Result<Deleted> {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    Statements st(*db_);
    Result<Consumer> owner = requireEntity<Consumer>(*db_, consumer);
    if (!owner) return owner.error();
    std::optional<ApiKey> key = findKey(*db_, owner->id, key_id);
    if (auto ok =
            checkIfMatch(options, key ? std::optional<json>(model::toJson(*key)) : std::nullopt);
        !ok) {
      return ok.error();
    }
    if (!key) return notFound("api key", key_id);
    deleteKey(st, key->id);
    const int64_t version =
        recordHistory(*db_, options, "delete",
                      "delete api key " + key->prefix + " of consumer " + owner->username,
                      {keyChange(*key, std::nullopt)});
    tx.commit();
    return Deleted{version};
  });
  lock.unlock();
  if (r && feed_) feed_->publish(r->version);
  return r;
}

model::Result<int64_t> ConfigStore::version() {
  std::lock_guard lock(mu_);
  return guarded([&]() -> Result<int64_t> { return readVersion(*db_); });
}

model::Result<Counts> ConfigStore::counts() {
  std::lock_guard lock(mu_);
  return guarded([&]() -> Result<Counts> {
    SQLite::Statement q(*db_,
                        "SELECT (SELECT count(*) FROM services), (SELECT count(*) FROM routes), "
                        "(SELECT count(*) FROM consumers), (SELECT count(*) FROM api_keys), "
                        "(SELECT count(*) FROM rate_limit_policies), "
                        "(SELECT count(*) FROM certificates)");
    q.executeStep();
    Counts c;
    c.services = q.getColumn(0).getInt64();
    c.routes = q.getColumn(1).getInt64();
    c.consumers = q.getColumn(2).getInt64();
    c.api_keys = q.getColumn(3).getInt64();
    c.rate_limit_policies = q.getColumn(4).getInt64();
    c.certificates = q.getColumn(5).getInt64();
    return c;
  });
}

model::Status ConfigStore::checkSealedKeys() {
  std::lock_guard lock(mu_);
  return guarded([&]() -> model::Status {
    SQLite::Statement q(*db_,
                        "SELECT name, json_extract(doc, '$.key_encrypted') FROM certificates "
                        "ORDER BY seq");
    while (q.executeStep()) {
      const std::string name = q.getColumn(0).getString();
      const std::optional<std::string> by = Keyring::sealedBy(q.getColumn(1).getString());
      if (!by) {
        return Error::internal("certificate '" + name + "' has no sealed key");
      }
      if (keyring_ == nullptr) {
        return Error::internal("certificate '" + name + "' has a key sealed under keyring " + *by +
                               ", and no keyring is loaded");
      }
      if (*by != keyring_->id()) {
        return Error::internal("certificate '" + name + "' has its key sealed under keyring " +
                               *by + ", not under the loaded keyring " + keyring_->id());
      }
    }
    return model::Ok{};
  });
}

model::Result<model::Config> ConfigStore::loadConfig() {
  std::lock_guard lock(mu_);
  return guarded([&]() -> Result<model::Config> {
    SQLite::Transaction tx(*db_);  // one snapshot: every table at the same version
    Result<model::Config> c = loadConfigTx(*db_, *decoded_);
    tx.commit();
    return c;
  });
}

model::Result<ConfigReplaced> ConfigStore::replaceConfig(model::Config config,
                                                         const WriteOptions& options, bool dry_run,
                                                         std::string action) {
  std::unique_lock lock(mu_);
  auto r = guarded([&]() -> Result<ReplaceResult> {
    return replaceConfigTx(*db_, *decoded_, keyring_.get(), std::move(config), options, dry_run,
                           action, action);
  });
  lock.unlock();
  if (!r) return r.error();
  if (r->committed && feed_) feed_->publish(r->replaced.version);
  return std::move(r->replaced);
}

model::Result<Page<HistoryEntry>> ConfigStore::history(const ListQuery& query) {
  std::lock_guard lock(mu_);
  return guarded([&]() -> Result<Page<HistoryEntry>> {
    Result<int64_t> after = validateQuery(query);
    if (!after) return after.error();
    SQLite::Statement q(*db_,
                        std::string("SELECT version, at, actor, action, summary FROM history") +
                            (query.after.empty() ? "" : " WHERE version < ?") +
                            " ORDER BY version DESC LIMIT ?");
    int index = 1;
    if (!query.after.empty()) q.bind(index++, *after);
    q.bind(index, static_cast<int64_t>(query.size + 1));
    Page<HistoryEntry> page;
    while (q.executeStep()) {
      if (page.data.size() == query.size) {
        page.next = cursorOf(page.data.back().version);
        break;
      }
      HistoryEntry h;
      h.version = q.getColumn(0).getInt64();
      h.at = q.getColumn(1).getInt64();
      h.actor = q.getColumn(2).getString();
      h.action = q.getColumn(3).getString();
      h.summary = q.getColumn(4).getString();
      page.data.push_back(std::move(h));
    }
    return page;
  });
}

model::Result<HistoryEntry> ConfigStore::historyEntry(int64_t version) {
  std::lock_guard lock(mu_);
  return guarded([&]() -> Result<HistoryEntry> {
    SQLite::Transaction tx(*db_);
    SQLite::Statement q(
        *db_, "SELECT version, at, actor, action, summary FROM history WHERE version = ?");
    q.bind(1, version);
    if (!q.executeStep()) {
      return Error::notFound("config version " + std::to_string(version) + " not found");
    }
    HistoryEntry h;
    h.version = q.getColumn(0).getInt64();
    h.at = q.getColumn(1).getInt64();
    h.actor = q.getColumn(2).getString();
    h.action = q.getColumn(3).getString();
    h.summary = q.getColumn(4).getString();
    SQLite::Statement c(*db_,
                        "SELECT entity_type, entity_id, before, after FROM history_changes "
                        "WHERE version = ? ORDER BY seq");
    c.bind(1, version);
    while (c.executeStep()) {
      h.changes.push_back({c.getColumn(0).getString(), c.getColumn(1).getString(),
                           jsonOrNull(c.getColumn(2)), jsonOrNull(c.getColumn(3))});
    }
    tx.commit();
    return h;
  });
}

model::Result<model::Config> ConfigStore::configAt(int64_t version) {
  std::lock_guard lock(mu_);
  return guarded([&]() -> Result<model::Config> {
    SQLite::Transaction tx(*db_);
    Result<model::Config> c = configAtTx(*db_, *decoded_, version);
    tx.commit();
    return c;
  });
}

model::Result<ConfigReplaced> ConfigStore::restore(int64_t version, const WriteOptions& options) {
  std::unique_lock lock(mu_);
  // Reconstructing and replacing under one lock hold; replaceConfigTx re-reads the current
  // configuration inside its write transaction, so another process writing in between only
  // changes what the diff is, never the outcome.
  auto r = guarded([&]() -> Result<ReplaceResult> {
    Result<model::Config> old = [&]() -> Result<model::Config> {
      SQLite::Transaction tx(*db_);
      return configAtTx(*db_, *decoded_, version);
    }();
    if (!old) return old.error();
    return replaceConfigTx(*db_, *decoded_, keyring_.get(), std::move(*old), options,
                           /*dry_run=*/false, "restore",
                           "restore version " + std::to_string(version));
  });
  lock.unlock();
  if (!r) return r.error();
  if (r->committed && feed_) feed_->publish(r->replaced.version);
  return std::move(r->replaced);
}

model::Result<std::optional<std::string>> ConfigStore::adminTokenHash() {
  std::lock_guard lock(mu_);
  return guarded([&]() -> Result<std::optional<std::string>> {
    SQLite::Statement q(*db_, "SELECT value FROM meta WHERE key = 'admin_token_hash'");
    if (!q.executeStep() || q.getColumn(0).isNull()) return std::optional<std::string>();
    return std::optional<std::string>(q.getColumn(0).getString());
  });
}

model::Status ConfigStore::setAdminTokenHash(const std::string& hash_hex) {
  std::lock_guard lock(mu_);
  return guarded([&]() -> model::Status {
    // Not configuration: no version bump, no history entry, nothing to publish.
    SQLite::Statement q(*db_,
                        "INSERT INTO meta (key, value) VALUES ('admin_token_hash', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    q.bind(1, hash_hex);
    q.exec();
    return model::Ok{};
  });
}

#define TURNPIKE_STORAGE_INSTANTIATE(T)                                              \
  template model::Result<T> ConfigStore::get<T>(std::string_view);                   \
  template model::Result<Page<T>> ConfigStore::list<T>(const ListQuery&);            \
  template model::Result<Written<T>> ConfigStore::create<T>(T, const WriteOptions&); \
  template model::Result<Written<T>> ConfigStore::put<T>(std::string_view, T,        \
                                                         const WriteOptions&);       \
  template model::Result<Deleted> ConfigStore::remove<T>(std::string_view, const WriteOptions&);

TURNPIKE_STORAGE_INSTANTIATE(model::Service)
TURNPIKE_STORAGE_INSTANTIATE(model::Route)
TURNPIKE_STORAGE_INSTANTIATE(model::Consumer)
TURNPIKE_STORAGE_INSTANTIATE(model::RateLimitPolicy)
TURNPIKE_STORAGE_INSTANTIATE(model::Certificate)

#undef TURNPIKE_STORAGE_INSTANTIATE

}  // namespace turnpike::storage
