// JsonReader: reads one JSON object field by field for the entity parsers, collecting every
// problem as a FieldError named the way the client wrote it ("targets[0].weight").
// Private to model/.
//
//   FieldErrors errors;
//   JsonReader r(body, "", &errors);
//   if (r.isObject()) {
//     r.readInt("retries", 0, 10, &service.retries);
//     r.finish();  // every field not read is an "unknown field"
//   }
//   if (!errors.empty()) return invalidEntity("service", std::move(errors));
//
// A field that is absent or JSON null leaves the output untouched (the default stays). Nothing
// here throws: types are checked before any nlohmann accessor is used.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "model/result.h"

namespace turnpike::model {

class JsonReader {
 public:
  // Checks a value in a string array; may normalize it in place. Returns "" when valid,
  // otherwise the error message for that element.
  using ElementCheck = std::function<std::string(std::string& value)>;

  // `prefix` names `value` in error fields ("" for the document, "health_check", "targets[0]").
  // When `value` is not an object one error is recorded on `prefix` and every read is a no-op.
  JsonReader(const nlohmann::json& value, std::string prefix, FieldErrors* errors);

  bool isObject() const { return object_ != nullptr; }

  // The error field name of `key` under this reader's prefix.
  std::string path(std::string_view key) const;
  void addError(std::string field, std::string message);

  // Marks `key` as known; returns its value, or nullptr when absent or null.
  const nlohmann::json* get(std::string_view key);

  // Each read returns true when the field was present, well typed and valid (and `out` set).
  bool readString(std::string_view key, std::string* out);
  bool readBool(std::string_view key, bool* out);
  bool readInt(std::string_view key, int64_t min, int64_t max, int64_t* out);
  bool readInt(std::string_view key, int min, int max, int* out);
  bool readOptionalInt(std::string_view key, int64_t min, int64_t max, std::optional<int64_t>* out);
  // An array of strings; `check` validates (and may normalize) each element; when
  // `duplicate_message` is non-empty, equal elements (after normalization) are errors.
  bool readStringArray(std::string_view key, std::vector<std::string>* out,
                       const ElementCheck& check = nullptr,
                       std::string_view duplicate_message = {});

  // Records "is required" on `key` when it is absent or null.
  void require(std::string_view key);

  // Records "unknown field" for every member that no read or get() asked for.
  void finish();

  FieldErrors* errors() const { return errors_; }

 private:
  const nlohmann::json* object_;
  std::string prefix_;
  FieldErrors* errors_;
  std::set<std::string, std::less<>> known_;
};

// The integer value of `value` when it is a JSON integer or an integral float that fits in
// int64 (1e3 is 1000, 1.5 is not an integer).
std::optional<int64_t> jsonToInt64(const nlohmann::json& value);

// "must be between MIN and MAX" (or "must be at least MIN" when max is INT64_MAX).
std::string rangeMessage(int64_t min, int64_t max);

// Field name of an element: "paths" + 2 -> "paths[2]".
std::string indexPath(std::string_view field, std::size_t index);

// Prepends `prefix` to each error's field ("routes[3]" + "paths[0]" -> "routes[3].paths[0]").
void prefixErrors(std::string_view prefix, const FieldErrors& in, FieldErrors* out);

// The kInvalid error for a failed parse of `what` ("service"): the one error's text, or a count.
Error invalidEntity(std::string_view what, FieldErrors errors);

// Fields every entity shares.
void readId(JsonReader& reader, std::string* id);  // a UUID, stored lower case
void readTimestamps(JsonReader& reader, int64_t* created_at, int64_t* updated_at);
void readTags(JsonReader& reader, std::vector<std::string>* tags);

// Name rule messages (see isValidName); "" when valid.
std::string checkName(std::string_view name, bool allow_at = false);

// An HTTP method: upper-cased here, 1 to 20 letters; "" when valid.
std::string checkMethod(std::string& method);

// A reference to another entity by id (UUID, lower-cased here) or by name; "" when valid.
std::string checkReference(std::string& ref, bool allow_at = false);

// "header:<token>" (lower-cased here) or one of `plain`; "" when valid.
std::string checkKeySelector(std::string& value, const std::vector<std::string_view>& plain);

}  // namespace turnpike::model
