#include "admin/problem.h"

#include <nlohmann/json.hpp>

#include "admin/handler_support.h"
#include "model/http_status.h"

namespace turnpike::admin {
namespace {

int statusOf(model::ErrorCode code) {
  switch (code) {
    case model::ErrorCode::kInvalid:
      return 400;
    case model::ErrorCode::kNotFound:
      return 404;
    case model::ErrorCode::kConflict:
      return 409;
    case model::ErrorCode::kPreconditionFailed:
      return 412;
    case model::ErrorCode::kTooLarge:
      return 413;
    case model::ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

}  // namespace

HttpResponse problem(int status, std::string detail, const model::FieldErrors& fields) {
  // "about:blank": the status says what kind of problem it is (RFC 9457 §4.2.1), so the title
  // is the status phrase and `detail` says what happened this time.
  nlohmann::json body = {{"type", "about:blank"},
                         {"title", model::reasonPhrase(status)},
                         {"status", status},
                         {"detail", std::move(detail)}};
  if (!fields.empty()) {
    nlohmann::json errors = nlohmann::json::array();
    for (const model::FieldError& field : fields) {
      errors.push_back({{"field", field.field}, {"message", field.message}});
    }
    body["errors"] = std::move(errors);
  }
  HttpResponse response;
  response.status = status;
  response.setHeader("Content-Type", "application/problem+json");
  response.body = dumpJson(body);
  return response;
}

HttpResponse problem(const model::Error& error) {
  return problem(statusOf(error.code), error.message, error.fields);
}

}  // namespace turnpike::admin
