#include "model/route_transform.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <set>
#include <string_view>
#include <utility>

#include "model/json_reader.h"
#include "model/validation.h"

namespace turnpike::model {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxTransformEntries = 64;
constexpr std::size_t kMaxHeaderValue = 4096;
constexpr int kMaxTimeoutMs = 600000;

// Fields Turnpike writes itself on the way upstream (framing, hop-by-hop, forwarding, identity):
// a transform that set or removed them would break the framing or let a route forge identity.
constexpr std::array<std::string_view, 18> kOwnRequestHeaders = {"host",
                                                                 "content-length",
                                                                 "transfer-encoding",
                                                                 "connection",
                                                                 "keep-alive",
                                                                 "proxy-connection",
                                                                 "te",
                                                                 "trailer",
                                                                 "upgrade",
                                                                 "expect",
                                                                 "x-forwarded-for",
                                                                 "x-forwarded-proto",
                                                                 "x-forwarded-host",
                                                                 "x-request-id",
                                                                 "x-consumer-id",
                                                                 "x-consumer-username",
                                                                 "x-consumer-groups",
                                                                 "proxy"};
constexpr std::array<std::string_view, 9> kOwnResponseHeaders = {
    "content-length", "transfer-encoding", "connection",  "keep-alive", "proxy-connection", "te",
    "trailer",        "upgrade",           "x-request-id"};

template <std::size_t N>
bool isOwn(const std::array<std::string_view, N>& own, std::string_view name) {
  return std::find(own.begin(), own.end(), name) != own.end();
}

// A header name rule for one side: lower-cases `name`; "" when valid.
template <std::size_t N>
std::string checkTransformHeader(std::string& name, const std::array<std::string_view, N>& own) {
  name = asciiLower(name);
  if (!isHttpToken(name)) return "must be a valid header name";
  if (isOwn(own, name)) return "'" + name + "' is set by Turnpike and cannot be changed";
  return "";
}

// Reads an object of string values; `check_key` validates (and may normalize) each name,
// `check_value` each value. Problems are recorded on "<field>.<name>".
bool readStringMap(JsonReader& reader, std::string_view key,
                   const std::function<std::string(std::string&)>& check_key,
                   const std::function<std::string(const std::string&)>& check_value,
                   std::map<std::string, std::string>* out) {
  const json* value = reader.get(key);
  if (value == nullptr) return false;
  const std::string field = reader.path(key);
  if (!value->is_object()) {
    reader.addError(field, "must be an object of names to strings");
    return false;
  }
  if (value->size() > kMaxTransformEntries) {
    reader.addError(field, "must have at most 64 entries");
    return false;
  }
  bool ok = true;
  std::map<std::string, std::string> result;
  for (const auto& [raw_key, raw_value] : value->items()) {
    const std::string member = field + "." + raw_key;
    std::string name = raw_key;
    if (std::string message = check_key(name); !message.empty()) {
      reader.addError(member, std::move(message));
      ok = false;
      continue;
    }
    if (!raw_value.is_string()) {
      reader.addError(member, "must be a string");
      ok = false;
      continue;
    }
    const std::string& text = raw_value.get_ref<const std::string&>();
    if (std::string message = check_value(text); !message.empty()) {
      reader.addError(member, std::move(message));
      ok = false;
      continue;
    }
    if (!result.emplace(std::move(name), text).second) {
      reader.addError(member, "duplicate name (names are case-insensitive)");
      ok = false;
    }
  }
  if (ok) *out = std::move(result);
  return ok;
}

std::string checkHeaderValue(const std::string& value) {
  if (value.size() > kMaxHeaderValue) return "must be at most 4096 bytes";
  if (hasControlChars(value)) return "must not contain control characters";
  if (!value.empty() && (value.front() == ' ' || value.back() == ' ' || value.front() == '\t')) {
    return "must not start or end with whitespace";
  }
  return "";
}

std::string checkQueryName(std::string& name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 256) return "must be at most 256 bytes";
  if (hasControlChars(name)) return "must not contain control characters";
  return "";
}

std::string checkQueryValue(const std::string& value) {
  if (value.size() > kMaxHeaderValue) return "must be at most 4096 bytes";
  if (hasControlChars(value)) return "must not contain control characters";
  return "";
}

std::string checkDotPath(std::string& path) {
  if (path.empty()) return "must not be empty";
  if (path.size() > 512) return "must be at most 512 bytes";
  if (path.front() == '.' || path.back() == '.' || path.find("..") != std::string::npos) {
    return "must be member names joined by '.', none of them empty";
  }
  return "";
}

std::string checkMemberName(const std::string& name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 256) return "must be at most 256 bytes";
  if (name.find('.') != std::string::npos) return "must be a member name, without '.'";
  return "";
}

void readJsonShape(JsonReader& parent, std::string_view key, std::optional<JsonShape>* out) {
  const json* value = parent.get(key);
  if (value == nullptr) return;
  JsonReader r(*value, parent.path(key), parent.errors());
  if (!r.isObject()) return;
  const std::size_t errors_before = r.errors()->size();
  JsonShape shape;
  r.readStringArray("allow", &shape.allow, checkDotPath, "duplicate path");
  r.readStringArray("deny", &shape.deny, checkDotPath, "duplicate path");
  for (std::string_view list : {"allow", "deny"}) {
    const std::vector<std::string>& paths = list == "allow" ? shape.allow : shape.deny;
    if (paths.size() > kMaxTransformEntries) {
      r.addError(r.path(list), "must have at most 64 paths");
    }
  }
  readStringMap(r, "rename", checkDotPath, checkMemberName, &shape.rename);
  if (r.readString("wrap", &shape.wrap)) {
    if (std::string message = checkMemberName(shape.wrap); !message.empty()) {
      r.addError(r.path("wrap"), std::move(message));
    }
  }
  r.finish();
  if (r.errors()->size() == errors_before) *out = std::move(shape);
}

// "{name}" placeholders must be whole path segments with parameter names (as route paths); in
// the query they may stand anywhere in a value ("?user={id}&tag=v-{tag}"), each closed.
std::string checkBackendPath(std::string& path) {
  if (path.empty() || path.front() != '/') return "must start with '/'";
  if (path.size() > 2048) return "must be at most 2048 bytes";
  if (hasControlChars(path) || path.find(' ') != std::string::npos) {
    return "must not contain spaces or control characters";
  }
  if (path.find('#') != std::string::npos) return "must not contain a fragment";
  const std::size_t query = path.find('?');
  if (query != std::string::npos) {
    bool open = false;
    for (std::size_t i = query; i < path.size(); ++i) {
      if (path[i] == '{') {
        if (open) return "a '{' in the query must be closed by '}' before the next '{'";
        open = true;
      } else if (path[i] == '}') {
        if (!open) return "a '}' in the query must close a '{'";
        if (path[i - 1] == '{') return "'{}' in the query must name a parameter";
        open = false;
      } else if (open && (path[i] == '&' || path[i] == '=')) {
        return "a parameter name in the query must not contain '&' or '='";
      }
    }
    if (open) return "a '{' in the query must be closed by '}'";
  }
  std::string_view route_path = std::string_view(path).substr(0, query);
  std::size_t start = 1;
  while (start <= route_path.size()) {
    std::size_t slash = route_path.find('/', start);
    std::size_t end = slash == std::string_view::npos ? route_path.size() : slash;
    std::string_view segment = route_path.substr(start, end - start);
    if (segment.find_first_of("{}") != std::string_view::npos) {
      bool whole = segment.size() >= 3 && segment.front() == '{' && segment.back() == '}' &&
                   std::count(segment.begin(), segment.end(), '{') == 1 &&
                   std::count(segment.begin(), segment.end(), '}') == 1;
      if (!whole) {
        return "parameter '" + std::string(segment) + "' must be a whole segment like '{name}'";
      }
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return "";
}

template <std::size_t N>
void readHeaderEdits(JsonReader& r, const std::array<std::string_view, N>& own,
                     std::map<std::string, std::string>* set, std::vector<std::string>* remove) {
  auto check = [&own](std::string& name) { return checkTransformHeader(name, own); };
  readStringMap(r, "set_headers", check, checkHeaderValue, set);
  r.readStringArray("remove_headers", remove, check, "duplicate header");
}

json mapJson(const std::map<std::string, std::string>& map) {
  json out = json::object();
  for (const auto& [key, value] : map) out[key] = value;
  return out;
}

}  // namespace

json toJson(const JsonShape& shape) {
  return {{"allow", shape.allow},
          {"deny", shape.deny},
          {"rename", mapJson(shape.rename)},
          {"wrap", shape.wrap.empty() ? json(nullptr) : json(shape.wrap)}};
}

json toJson(const RequestTransform& t) {
  json rewrite = nullptr;
  if (t.rewrite_path) {
    rewrite = {{"match", t.rewrite_path->match}, {"replace", t.rewrite_path->replace}};
  }
  return {{"set_headers", mapJson(t.set_headers)},
          {"remove_headers", t.remove_headers},
          {"rename_headers", mapJson(t.rename_headers)},
          {"set_query", mapJson(t.set_query)},
          {"remove_query", t.remove_query},
          {"rewrite_path", std::move(rewrite)}};
}

json toJson(const ResponseTransform& t) {
  return {{"set_headers", mapJson(t.set_headers)},
          {"remove_headers", t.remove_headers},
          {"json", t.json ? toJson(*t.json) : json(nullptr)},
          {"max_body_bytes", t.max_body_bytes}};
}

json toJson(const Aggregate& aggregate) {
  json backends = json::array();
  for (const AggregateBackend& b : aggregate.backends) {
    backends.push_back({{"service", b.service},
                        {"path", b.path},
                        {"method", b.method},
                        {"group", b.group.empty() ? json(nullptr) : json(b.group)},
                        {"required", b.required},
                        {"timeout_ms", b.timeout_ms == 0 ? json(nullptr) : json(b.timeout_ms)},
                        {"json", b.json ? toJson(*b.json) : json(nullptr)}});
  }
  return {{"backends", std::move(backends)}, {"timeout_ms", aggregate.timeout_ms}};
}

void readRequestTransform(JsonReader& route, std::optional<RequestTransform>* out) {
  const json* value = route.get("request_transform");
  if (value == nullptr) return;
  JsonReader r(*value, "request_transform", route.errors());
  if (!r.isObject()) return;
  const std::size_t errors_before = r.errors()->size();
  RequestTransform t;
  readHeaderEdits(r, kOwnRequestHeaders, &t.set_headers, &t.remove_headers);
  auto check_rename_target = [](const std::string& target) {
    std::string name = target;
    return checkTransformHeader(name, kOwnRequestHeaders);
  };
  std::map<std::string, std::string> renames;
  auto check_rename_source = [](std::string& name) {
    return checkTransformHeader(name, kOwnRequestHeaders);
  };
  if (readStringMap(r, "rename_headers", check_rename_source, check_rename_target, &renames)) {
    for (auto& [from, to] : renames) t.rename_headers.emplace(from, asciiLower(to));
  }
  readStringMap(r, "set_query", checkQueryName, checkQueryValue, &t.set_query);
  r.readStringArray("remove_query", &t.remove_query, checkQueryName, "duplicate parameter");
  if (const json* rewrite = r.get("rewrite_path")) {
    JsonReader rr(*rewrite, r.path("rewrite_path"), r.errors());
    if (rr.isObject()) {
      PathRewrite p;
      rr.require("match");
      rr.require("replace");
      RE2::Options options;
      options.set_log_errors(false);
      std::optional<RE2> re;
      if (rr.readString("match", &p.match)) {
        re.emplace(p.match, options);
        if (p.match.empty()) {
          rr.addError(rr.path("match"), "must not be empty");
        } else if (!re->ok()) {
          rr.addError(rr.path("match"), "invalid regex: " + re->error());
        }
      }
      if (rr.readString("replace", &p.replace)) {
        std::string error;
        if (p.replace.empty() || p.replace.front() != '/') {
          rr.addError(rr.path("replace"), "must start with '/'");
        } else if (hasControlChars(p.replace) ||
                   p.replace.find_first_of(" ?#") != std::string::npos) {
          rr.addError(rr.path("replace"),
                      "must not contain spaces, control characters, '?' or '#'");
        } else if (re && re->ok() && !re->CheckRewriteString(p.replace, &error)) {
          rr.addError(rr.path("replace"), "refers to a capture group that match does not have");
        }
      }
      rr.finish();
      t.rewrite_path = std::move(p);
    }
  }
  r.finish();
  if (r.errors()->size() == errors_before) *out = std::move(t);
}

void readResponseTransform(JsonReader& route, std::optional<ResponseTransform>* out) {
  const json* value = route.get("response_transform");
  if (value == nullptr) return;
  JsonReader r(*value, "response_transform", route.errors());
  if (!r.isObject()) return;
  const std::size_t errors_before = r.errors()->size();
  ResponseTransform t;
  readHeaderEdits(r, kOwnResponseHeaders, &t.set_headers, &t.remove_headers);
  readJsonShape(r, "json", &t.json);
  r.readInt("max_body_bytes", 1, kMaxTransformBodyCap, &t.max_body_bytes);
  r.finish();
  if (r.errors()->size() == errors_before) *out = std::move(t);
}

void readAggregate(JsonReader& route, std::optional<Aggregate>* out) {
  const json* value = route.get("aggregate");
  if (value == nullptr) return;
  JsonReader r(*value, "aggregate", route.errors());
  if (!r.isObject()) return;
  const std::size_t errors_before = r.errors()->size();
  Aggregate a;
  r.readInt("timeout_ms", 1, kMaxTimeoutMs, &a.timeout_ms);
  const json* backends = r.get("backends");
  const std::string field = r.path("backends");
  if (backends == nullptr) {
    r.addError(field, "is required");
  } else if (!backends->is_array() || backends->empty()) {
    r.addError(field, "must be a non-empty array of backends");
  } else if (backends->size() > kMaxAggregateBackends) {
    r.addError(field, "must have at most 16 backends");
  } else {
    std::set<std::string, std::less<>> groups;
    for (std::size_t i = 0; i < backends->size(); ++i) {
      JsonReader br((*backends)[i], indexPath(field, i), r.errors());
      if (!br.isObject()) continue;
      AggregateBackend b;
      br.require("service");
      if (br.readString("service", &b.service) && !checkReference(b.service).empty()) {
        br.addError(br.path("service"), "must be a service id (UUID) or name");
      }
      br.require("path");
      if (br.readString("path", &b.path)) {
        if (std::string message = checkBackendPath(b.path); !message.empty()) {
          br.addError(br.path("path"), std::move(message));
        }
      }
      if (br.readString("method", &b.method)) {
        if (std::string message = checkMethod(b.method); !message.empty()) {
          br.addError(br.path("method"), std::move(message));
        }
      }
      if (br.readString("group", &b.group)) {
        if (std::string message = checkMemberName(b.group); !message.empty()) {
          br.addError(br.path("group"), std::move(message));
        } else if (!groups.insert(b.group).second) {
          br.addError(br.path("group"), "duplicate group");
        }
      }
      br.readBool("required", &b.required);
      if (br.readInt("timeout_ms", 1, kMaxTimeoutMs, &b.timeout_ms) &&
          b.timeout_ms > a.timeout_ms) {
        br.addError(br.path("timeout_ms"),
                    "must not exceed aggregate.timeout_ms (" + std::to_string(a.timeout_ms) + ")");
      }
      readJsonShape(br, "json", &b.json);
      br.finish();
      a.backends.push_back(std::move(b));
    }
  }
  r.finish();
  if (r.errors()->size() == errors_before) *out = std::move(a);
}

std::vector<std::string> templateParams(std::string_view path) {
  std::vector<std::string> names;
  std::size_t open = path.find('{');
  while (open != std::string_view::npos) {
    std::size_t close = path.find('}', open);
    if (close == std::string_view::npos) break;
    names.emplace_back(path.substr(open + 1, close - open - 1));
    open = path.find('{', close);
  }
  return names;
}

}  // namespace turnpike::model
