// Error values passed across module seams (model -> storage -> admin).
//
// No exceptions cross a seam: a function that can fail returns Result<T>, which holds either a
// T or an Error. An Error carries the HTTP-like class of failure and, for validation failures,
// one FieldError per offending field, named the way the API client wrote it ("targets[0].url").
//
//   Result<Service> r = parseService(body);
//   if (!r) return problem(r.error());
//   use(*r);
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace turnpike::model {

struct FieldError {
  std::string field;    // "paths[0]", "targets[1].weight", "" for the whole document
  std::string message;  // what is wrong, for a human: "must be a positive integer"

  bool operator==(const FieldError&) const = default;
};
using FieldErrors = std::vector<FieldError>;

enum class ErrorCode {
  kInvalid,             // 400: bad JSON, unknown field, failed validation, missing reference
  kNotFound,            // 404
  kConflict,            // 409: duplicate name / id
  kPreconditionFailed,  // 412: If-Match did not match
  kTooLarge,            // 413
  kInternal,            // 500: database failure and the like
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // one sentence: "service 'orders' not found"
  FieldErrors fields;   // non-empty for field-level validation failures

  static Error invalid(std::string message, FieldErrors fields = {}) {
    return {ErrorCode::kInvalid, std::move(message), std::move(fields)};
  }
  static Error invalidField(std::string field, std::string message) {
    std::string summary = field + ": " + message;
    return {ErrorCode::kInvalid, std::move(summary), {{std::move(field), std::move(message)}}};
  }
  static Error notFound(std::string message) {
    return {ErrorCode::kNotFound, std::move(message), {}};
  }
  static Error conflict(std::string message, FieldErrors fields = {}) {
    return {ErrorCode::kConflict, std::move(message), std::move(fields)};
  }
  static Error preconditionFailed(std::string message) {
    return {ErrorCode::kPreconditionFailed, std::move(message), {}};
  }
  static Error internal(std::string message) {
    return {ErrorCode::kInternal, std::move(message), {}};
  }
};

// Either a value or an Error. Check with `if (r)` / `r.ok()` before `*r` or `r.value()`.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// For operations that return nothing on success.
struct Ok {};
using Status = Result<Ok>;

}  // namespace turnpike::model
