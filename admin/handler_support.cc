#include "admin/handler_support.h"

#include <charconv>
#include <ctime>

#include "admin/admin_api.h"
#include "admin/problem.h"
#include "model/json_depth.h"

namespace turnpike::admin {
namespace {

// nlohmann's messages start with "[json.exception.parse_error.101] "; the client needs the rest.
std::string withoutExceptionId(std::string message) {
  if (!message.empty() && message.front() == '[') {
    size_t end = message.find("] ");
    if (end != std::string::npos) message.erase(0, end + 2);
  }
  return message;
}

}  // namespace

std::string dumpJson(const nlohmann::json& body) {
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpResponse jsonResponse(int status, const nlohmann::json& body) {
  HttpResponse response;
  response.status = status;
  response.setHeader("Content-Type", "application/json");
  response.body = dumpJson(body);
  return response;
}

model::Result<nlohmann::json> parseJsonBody(const HttpRequest& request,
                                            std::optional<nlohmann::json> empty_value) {
  bool blank = request.body.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank) {
    if (empty_value) return std::move(*empty_value);
    return model::Error::invalid("request body is empty; a JSON document is required");
  }
  if (model::jsonNestsDeeperThan(request.body, model::kMaxJsonDepth)) {
    return model::Error::invalid("request body nests deeper than " +
                                 std::to_string(model::kMaxJsonDepth) + " levels");
  }
  try {
    return nlohmann::json::parse(request.body);
  } catch (const nlohmann::json::exception& e) {
    return model::Error::invalid("request body is not valid JSON: " + withoutExceptionId(e.what()));
  }
}

model::Result<nlohmann::json> parseJsonObjectBody(const HttpRequest& request,
                                                  std::optional<nlohmann::json> empty_value) {
  auto body = parseJsonBody(request, std::move(empty_value));
  if (!body) return body;
  if (!body->is_object()) {
    return model::Error::invalid(std::string("request body must be a JSON object, not ") +
                                 body->type_name());
  }
  return body;
}

model::Result<int64_t> int64Of(std::string_view text, const std::string& field) {
  int64_t value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (!text.empty() && text.front() == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return model::Error::invalidField(field, "must be an integer");
  }
  return value;
}

model::Result<storage::ListQuery> listQueryOf(const HttpRequest& request) {
  storage::ListQuery query;
  if (const std::string* size = request.queryParam("size")) {
    auto n = int64Of(*size, "size");
    if (!n || *n < 1 || *n > 1000) {
      return model::Error::invalidField("size", "must be an integer from 1 to 1000");
    }
    query.size = static_cast<size_t>(*n);
  }
  if (const std::string* after = request.queryParam("after")) query.after = *after;
  if (const std::string* tags = request.queryParam("tags")) {
    size_t start = 0;
    while (start <= tags->size()) {
      size_t comma = tags->find(',', start);
      if (comma == std::string::npos) comma = tags->size();
      std::string tag = tags->substr(start, comma - start);
      if (!tag.empty()) query.tags.push_back(std::move(tag));
      start = comma + 1;
    }
  }
  return query;
}

model::Result<bool> flagOf(const HttpRequest& request, const std::string& name) {
  const std::string* value = request.queryParam(name);
  if (value == nullptr || *value == "false" || *value == "0") return false;
  if (value->empty() || *value == "true" || *value == "1") return true;
  return model::Error::invalidField(name, "must be true or false");
}

model::Result<ProxyWait> proxyWaitOf(const HttpRequest& request) {
  ProxyWait wait;
  auto enabled = flagOf(request, "wait_for_proxy");
  if (!enabled) return enabled.error();
  wait.enabled = *enabled;
  if (const std::string* timeout = request.queryParam("wait_timeout_ms")) {
    auto ms = int64Of(*timeout, "wait_timeout_ms");
    if (!ms || *ms < 1 || *ms > kMaxProxyWaitMs) {
      return model::Error::invalidField(
          "wait_timeout_ms", "must be an integer from 1 to " + std::to_string(kMaxProxyWaitMs));
    }
    wait.timeout = std::chrono::milliseconds(*ms);
  }
  return wait;
}

HttpResponse awaitProxy(const Call& call, const ProxyWait& wait, HttpResponse committed) {
  if (!wait.enabled || committed.status < 200 || committed.status >= 300) return committed;
  if (!call.ctx.hooks.wait_for_version) return committed;
  auto dry_run = flagOf(call.request, "dry_run");
  if (dry_run && *dry_run) return committed;
  const std::string* header = committed.header("X-Config-Version");
  if (header == nullptr) return committed;
  auto version = int64Of(*header, "X-Config-Version");
  if (!version) return committed;
  if (call.ctx.hooks.wait_for_version(*version, wait.timeout)) return committed;

  std::string detail = "the change is stored (version " + *header +
                       ") but the proxy did not serve it within " +
                       std::to_string(wait.timeout.count()) + " ms";
  if (call.ctx.hooks.last_build) {
    nlohmann::json last = call.ctx.hooks.last_build();
    if (last.is_object() && last.value("error", nlohmann::json()).is_string() &&
        last.value("error_version", nlohmann::json()).is_number_integer() &&
        last["error_version"].get<int64_t>() >= *version) {
      detail += "; the snapshot build of version " +
                std::to_string(last["error_version"].get<int64_t>()) +
                " failed: " + last["error"].get<std::string>();
    }
  }
  HttpResponse response = problem(504, std::move(detail));
  response.setHeader("X-Config-Version", *header);
  return response;
}

std::string actorOf(const HttpRequest& request) {
  const std::string* header = request.header("x-turnpike-actor");
  if (header == nullptr) return "admin";
  std::string actor;
  for (char c : *header) {
    if (actor.size() == 64) break;
    // Printable ASCII only: the actor lands in history rows, logs and the UI.
    if (c >= 0x20 && c < 0x7f) actor.push_back(c);
  }
  size_t first = actor.find_first_not_of(' ');
  if (first == std::string::npos) return "admin";
  actor.erase(0, first);
  actor.erase(actor.find_last_not_of(' ') + 1);
  return actor;
}

storage::WriteOptions writeOptionsOf(const Call& call) {
  storage::WriteOptions options;
  options.actor = call.actor;
  if (const std::string* if_match = call.request.header("if-match")) options.if_match = *if_match;
  return options;
}

nlohmann::json changeJson(const storage::Change& change) {
  std::string action = change.before.is_null()  ? "create"
                       : change.after.is_null() ? "delete"
                                                : "update";
  return {{"entity_type", change.entity_type},
          {"entity_id", change.entity_id},
          {"action", std::move(action)},
          {"before", change.before},
          {"after", change.after}};
}

nlohmann::json replacedJson(const storage::ConfigReplaced& replaced, bool dry_run) {
  nlohmann::json changes = nlohmann::json::array();
  for (const storage::Change& change : replaced.changes) changes.push_back(changeJson(change));
  return {{"version", replaced.version}, {"dry_run", dry_run}, {"changes", std::move(changes)}};
}

int64_t unixNow() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace turnpike::admin
