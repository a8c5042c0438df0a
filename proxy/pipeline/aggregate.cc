#include "proxy/pipeline/aggregate.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <nlohmann/json.hpp>
#include <vector>

#include "model/json_depth.h"
#include "proxy/backend_call.h"
#include "proxy/policy/json_shape.h"
#include "proxy/policy/route_transforms.h"
#include "proxy/worker.h"

namespace turnpike::proxy::pipeline {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;

// One backend of an aggregate: its answer into `out`; the last one to finish wakes the exchange.
asio::awaitable<void> runBackend(Worker& worker, BackendCall call, BackendAnswer& out,
                                 std::size_t& pending, asio::steady_timer& all_done) {
  try {
    out = co_await callBackend(worker, call);
  } catch (const std::exception& e) {
    out.error = std::string("internal error: ") + e.what();
  }
  if (--pending == 0) all_done.cancel();
}

// Why a backend's answer cannot be merged, or "" after parsing it into `doc` and applying the
// backend's shape.
std::string unusable(const BackendAnswer& answer, const CompiledBackend& backend,
                     nlohmann::json& doc) {
  if (!answer.error.empty()) return answer.error;
  if (answer.status / 100 != 2) return "answered " + std::to_string(answer.status);
  if (!answer.content_encoding.empty() && !beast::iequals(answer.content_encoding, "identity")) {
    return "answered with Content-Encoding " + answer.content_encoding;
  }
  if (model::jsonNestsDeeperThan(answer.body, model::kMaxJsonDepth)) {
    return "answered JSON nested too deeply";
  }
  doc = nlohmann::json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return "answered a body that is not JSON";
  if (backend.def->group.empty() && !doc.is_object()) {
    return std::string("answered a JSON ") + doc.type_name() + ", which needs a group to be merged";
  }
  backend.json.apply(doc);
  return "";
}

}  // namespace

asio::awaitable<void> runAggregate(Worker& worker, Exchange& exchange, AggregateResult& out) {
  const CompiledRoute& route = *exchange.route;
  const std::vector<CompiledBackend>& backends = route.aggregate;
  const policy::CompiledRequestTransform* transform = route.request_transform.get();
  const std::size_t count = backends.size();
  std::vector<std::string> targets(count);
  std::vector<BackendAnswer> answers(count);
  std::size_t pending = count;
  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
  exchange.called_upstream = true;
  const auto started = Exchange::Clock::now();
  for (std::size_t i = 0; i < count; ++i) {
    const model::AggregateBackend& def = *backends[i].def;
    fillBackendTarget(def.path, exchange.match.params, targets[i]);
    const bool sends_length = def.method == "POST" || def.method == "PUT" || def.method == "PATCH";
    BackendCall call{
        .service = backends[i].service,
        .head = {.method = def.method,
                 .target = targets[i],
                 .forwarding = {.client_ip = exchange.client_ip,
                                .host = exchange.host,
                                .proto = exchange.tls ? "https" : "http",
                                .request_id = exchange.request_id},
                 .framing = sends_length ? BodyFraming::kContentLength : BodyFraming::kNone,
                 .edits = transform != nullptr ? &transform->headers() : nullptr},
        .timeout = backends[i].timeout,
        .version = exchange.snapshot->version()};
    if (exchange.consumer) {
      call.head.consumer_fields = exchange.consumer->forwarded_fields;
    }
    asio::co_spawn(executor, runBackend(worker, call, answers[i], pending, all_done),
                   asio::detached);
  }
  while (pending > 0) co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  exchange.upstream_duration =
      std::chrono::duration_cast<std::chrono::microseconds>(Exchange::Clock::now() - started);

  // Merge in the listed order; collect why the others could not be used.
  std::vector<nlohmann::json> docs(count);
  std::vector<policy::AggregatePart> parts(count);
  std::string failures;  // JSON array members for the problem body
  std::string first_failure;
  std::string first_required_failure;
  std::size_t failed = 0;
  bool required_failed = false;
  bool required_timed_out = true;  // every failed required backend timed out
  bool all_timed_out = true;       // every failed backend timed out
  for (std::size_t i = 0; i < count; ++i) {
    const model::AggregateBackend& def = *backends[i].def;
    parts[i].group = def.group;
    const std::string error = unusable(answers[i], backends[i], docs[i]);
    if (error.empty()) {
      parts[i].body = &docs[i];
      continue;
    }
    ++failed;
    all_timed_out = all_timed_out && answers[i].timed_out;
    const std::string& name = backends[i].service->name();
    std::string line = "backend " + name + " (" + targets[i] + "): " + error;
    if (def.required) {
      required_failed = true;
      required_timed_out = required_timed_out && answers[i].timed_out;
      if (first_required_failure.empty()) first_required_failure = line;
    }
    if (first_failure.empty()) first_failure = std::move(line);
    failures += failures.empty() ? "{" : ",{";
    failures += R"("service":")";
    appendJsonEscaped(name, failures);
    failures += R"(","path":")";
    appendJsonEscaped(targets[i], failures);
    failures += R"(","required":)";
    failures += def.required ? "true" : "false";
    failures += R"(,"timed_out":)";
    failures += answers[i].timed_out ? "true" : "false";
    failures += R"(,"error":")";
    appendJsonEscaped(error, failures);
    failures += "\"}";
  }
  if (required_failed || failed == count) {
    // 504 when what decided the failure was time running out, else 502.
    const bool timed_out = required_failed ? required_timed_out : all_timed_out;
    out.detail = required_failed ? "a required backend failed: " + first_required_failure
                                 : "every backend failed; the first: " + first_failure;
    out.members = R"("backends":[)" + failures + "]";
    out.problem = ProxyAnswer{
        .status = timed_out ? 504 : 502, .detail = out.detail, .extra_members = out.members};
    co_return;
  }

  nlohmann::json merged = policy::mergeAggregate(parts);
  const policy::CompiledResponseTransform* response_transform = route.response_transform.get();
  if (response_transform != nullptr && response_transform->json() != nullptr) {
    response_transform->json()->apply(merged);
  }
  out.body = merged.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out.complete = failed == 0;
}

}  // namespace turnpike::proxy::pipeline
