#include "model/config.h"

#include <limits>
#include <set>
#include <string>
#include <utility>

#include "model/json_reader.h"

namespace turnpike::model {
namespace {

using nlohmann::json;

// Parses the array `key` of `reader`'s object with `parse`, prefixing each element's errors
// with "key[i]". Ids and the unique name (`name_field`, read by `name_of`) must not repeat
// within the document: the store would refuse them anyway, but here the error names the entry.
template <class T, class Parse, class NameOf>
void readCollection(JsonReader& reader, std::string_view key, Parse parse,
                    std::string_view name_field, NameOf name_of, std::vector<T>* out) {
  const json* value = reader.get(key);
  if (value == nullptr) return;
  if (!value->is_array()) {
    reader.addError(std::string(key), "must be an array");
    return;
  }
  std::set<std::string, std::less<>> ids;
  std::set<std::string, std::less<>> names;
  for (std::size_t i = 0; i < value->size(); ++i) {
    std::string prefix = indexPath(key, i);
    Result<T> result = parse((*value)[i]);
    if (!result) {
      if (result.error().fields.empty()) {
        reader.addError(prefix, result.error().message);
      } else {
        prefixErrors(prefix, result.error().fields, reader.errors());
      }
      continue;
    }
    const std::string& id = result->id;
    if (!id.empty() && !ids.insert(id).second) reader.addError(prefix + ".id", "duplicate id");
    const std::string& name = name_of(*result);
    if (!name.empty() && !names.insert(name).second) {
      reader.addError(prefix + "." + std::string(name_field),
                      "duplicate " + std::string(name_field));
    }
    out->push_back(std::move(*result));
  }
}

template <class T>
json arrayOf(const std::vector<T>& items) {
  json out = json::array();
  for (const T& item : items) out.push_back(toJson(item));
  return out;
}

}  // namespace

json toJson(const Config& config) {
  json keys = json::array();
  for (const ApiKey& key : config.api_keys) keys.push_back(toJson(key, /*with_hash=*/true));
  json certificates = json::array();
  for (const Certificate& c : config.certificates) {
    certificates.push_back(toJson(c, /*with_sealed_key=*/true));
  }
  return {{"version", config.version},
          {"services", arrayOf(config.services)},
          {"routes", arrayOf(config.routes)},
          {"consumers", arrayOf(config.consumers)},
          {"api_keys", std::move(keys)},
          {"rate_limit_policies", arrayOf(config.rate_limit_policies)},
          {"certificates", std::move(certificates)}};
}

Result<Config> parseConfig(const json& body) {
  FieldErrors errors;
  Config config;
  JsonReader r(body, "", &errors);
  if (r.isObject()) {
    // Accepted so that an export can be fed back as is; the store assigns the next version.
    int64_t ignored_version = 0;
    r.readInt("version", 0, std::numeric_limits<int64_t>::max(), &ignored_version);
    readCollection(
        r, "services", parseService, "name",
        [](const Service& s) -> const std::string& { return s.name; }, &config.services);
    readCollection(
        r, "routes", parseRoute, "name",
        [](const Route& e) -> const std::string& { return e.name; }, &config.routes);
    readCollection(
        r, "consumers", parseConsumer, "username",
        [](const Consumer& c) -> const std::string& { return c.username; }, &config.consumers);
    // Two entries with one hash would be one key owned twice.
    readCollection(
        r, "api_keys", parseExportedApiKey, "key_hash",
        [](const ApiKey& k) -> const std::string& { return k.key_hash; }, &config.api_keys);
    readCollection(
        r, "rate_limit_policies", parseRateLimitPolicy, "name",
        [](const RateLimitPolicy& p) -> const std::string& { return p.name; },
        &config.rate_limit_policies);
    readCollection(
        r, "certificates",
        [](const json& j) { return parseCertificate(j, /*key_required=*/false); }, "name",
        [](const Certificate& c) -> const std::string& { return c.name; }, &config.certificates);
    r.finish();
  }
  if (!errors.empty()) return invalidEntity("config", std::move(errors));
  return config;
}

}  // namespace turnpike::model
