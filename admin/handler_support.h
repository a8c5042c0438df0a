// What every admin handler shares: the call it answers (request, path parameters, who writes),
// and the small parse/serialize steps that keep handlers to parse -> store -> serialize.
//
// Private to admin/. Everything here is a plain function of its arguments and thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/http_message.h"
#include "model/result.h"
#include "storage/config_store.h"

namespace turnpike::admin {

struct ProxyHooks;
class RequestMetrics;

// The largest request body the API accepts (API.md: "body over 1 MiB -> 413").
inline constexpr size_t kMaxBodyBytes = 1024 * 1024;

// What a handler may touch besides its request. References live as long as the AdminApi.
struct ApiContext {
  storage::ConfigStore& store;
  const ProxyHooks& hooks;
  const RequestMetrics& metrics;
  std::chrono::steady_clock::time_point started;
};

// One request being answered: the request, the values of the route's `{param}` segments in
// order, and the write options (actor) derived from the request headers.
struct Call {
  ApiContext& ctx;
  const HttpRequest& request;
  std::vector<std::string> params;
  std::string actor;

  const std::string& param(size_t i) const { return params.at(i); }
};

using HandlerFn = HttpResponse (*)(Call&);

// 200 (or `status`) with `body` as application/json.
HttpResponse jsonResponse(int status, const nlohmann::json& body);

// Serializes without throwing on invalid UTF-8 (replaced by U+FFFD).
std::string dumpJson(const nlohmann::json& body);

// Parses the request body as JSON. An empty body is `empty_value` when given, else 400.
// Parse errors are 400 problems whose detail carries nlohmann's position message.
model::Result<nlohmann::json> parseJsonBody(const HttpRequest& request,
                                            std::optional<nlohmann::json> empty_value = {});

// As parseJsonBody, and the document must be a JSON object.
model::Result<nlohmann::json> parseJsonObjectBody(const HttpRequest& request,
                                                  std::optional<nlohmann::json> empty_value = {});

// ?size (1..1000, default 100), ?after, ?tags=a,b. Bad values are kInvalid naming the parameter.
model::Result<storage::ListQuery> listQueryOf(const HttpRequest& request);

// A boolean query flag ("true"/"1"/"" or "false"/"0"); absent = false.
model::Result<bool> flagOf(const HttpRequest& request, const std::string& name);

// A decimal int64 (optionally signed) in `text`, or kInvalid naming `field`.
model::Result<int64_t> int64Of(std::string_view text, const std::string& field);

// ?wait_for_proxy=true[&wait_timeout_ms=N] of a write (API.md: read-your-writes).
struct ProxyWait {
  bool enabled = false;
  std::chrono::milliseconds timeout{5000};  // 1..60000 ms
};
inline constexpr int64_t kMaxProxyWaitMs = 60000;

// Parses the two parameters; a bad value is kInvalid naming the parameter. wait_timeout_ms is
// checked even when wait_for_proxy is absent.
model::Result<ProxyWait> proxyWaitOf(const HttpRequest& request);

// After a write answered `committed`: unless the wait is off, the answer is not 2xx, the call was
// a dry run or carries no X-Config-Version, blocks (ProxyHooks::wait_for_version) until the proxy
// serves that version. Returns `committed` when it does (or when no hook is set), else a 504
// problem that still carries X-Config-Version: the change is stored either way.
HttpResponse awaitProxy(const Call& call, const ProxyWait& wait, HttpResponse committed);

// WriteOptions for this call: the actor, and If-Match when the client sent one.
storage::WriteOptions writeOptionsOf(const Call& call);

// The history actor for a request: a sanitized X-Turnpike-Actor (<= 64 printable characters)
// when present, else "admin".
std::string actorOf(const HttpRequest& request);

// {"data": [...], "next": cursor or null}
template <class T, class ToJson>
nlohmann::json pageJson(const storage::Page<T>& page, ToJson&& to_json) {
  nlohmann::json data = nlohmann::json::array();
  for (const T& item : page.data) data.push_back(to_json(item));
  return {{"data", std::move(data)},
          {"next", page.next ? nlohmann::json(*page.next) : nlohmann::json(nullptr)}};
}

// A history Change in API form, with its derived "action" (create/update/delete).
nlohmann::json changeJson(const storage::Change& change);

// {"version", "dry_run", "changes"} for PUT /config and restore.
nlohmann::json replacedJson(const storage::ConfigReplaced& replaced, bool dry_run);

// Seconds since the Unix epoch, now.
int64_t unixNow();

}  // namespace turnpike::admin
