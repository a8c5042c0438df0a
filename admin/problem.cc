#include "admin/problem.h"

#include <nlohmann/json.hpp>

#include "admin/handler_support.h"

namespace turnpike::admin {
namespace {

const char* reasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status < 500 ? "Client Error" : "Server Error";
  }
}

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
                         {"title", reasonPhrase(status)},
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
