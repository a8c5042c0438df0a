#include "model/json_reader.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "model/identity.h"
#include "model/validation.h"

namespace turnpike::model {
namespace {

constexpr std::size_t kMaxTags = 32;
constexpr std::size_t kMaxTagLength = 128;

std::string checkTag(std::string& tag) {
  std::size_t length = utf8Length(tag);
  if (length < 1 || length > kMaxTagLength) return "must be 1 to 128 characters";
  // ?tags=a,b filters lists, so a comma could never be matched.
  if (tag.find(',') != std::string::npos) return "must not contain ','";
  if (hasControlChars(tag)) return "must not contain control characters";
  return "";
}

}  // namespace

JsonReader::JsonReader(const nlohmann::json& value, std::string prefix, FieldErrors* errors)
    : object_(value.is_object() ? &value : nullptr), prefix_(std::move(prefix)), errors_(errors) {
  if (object_ == nullptr) {
    addError(prefix_, prefix_.empty() ? "must be a JSON object" : "must be an object");
  }
}

std::string JsonReader::path(std::string_view key) const {
  if (prefix_.empty()) return std::string(key);
  std::string out = prefix_;
  out += '.';
  out += key;
  return out;
}

void JsonReader::addError(std::string field, std::string message) {
  errors_->push_back({std::move(field), std::move(message)});
}

const nlohmann::json* JsonReader::get(std::string_view key) {
  known_.emplace(key);
  if (object_ == nullptr) return nullptr;
  auto it = object_->find(std::string(key));
  if (it == object_->end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonReader::readString(std::string_view key, std::string* out) {
  const nlohmann::json* v = get(key);
  if (v == nullptr) return false;
  if (!v->is_string()) {
    addError(path(key), "must be a string");
    return false;
  }
  *out = v->get_ref<const std::string&>();
  return true;
}

bool JsonReader::readBool(std::string_view key, bool* out) {
  const nlohmann::json* v = get(key);
  if (v == nullptr) return false;
  if (!v->is_boolean()) {
    addError(path(key), "must be a boolean");
    return false;
  }
  *out = v->get<bool>();
  return true;
}

bool JsonReader::readInt(std::string_view key, int64_t min, int64_t max, int64_t* out) {
  const nlohmann::json* v = get(key);
  if (v == nullptr) return false;
  if (!v->is_number()) {
    addError(path(key), "must be an integer");
    return false;
  }
  std::optional<int64_t> n = jsonToInt64(*v);
  if (!n) {
    // A float with a fraction is a type error; a whole number too big for int64 is a range one.
    bool whole =
        v->is_number_unsigned() || (v->is_number_float() && std::isfinite(v->get<double>()) &&
                                    std::trunc(v->get<double>()) == v->get<double>());
    addError(path(key), whole ? rangeMessage(min, max) : "must be an integer");
    return false;
  }
  if (*n < min || *n > max) {
    addError(path(key), rangeMessage(min, max));
    return false;
  }
  *out = *n;
  return true;
}

bool JsonReader::readInt(std::string_view key, int min, int max, int* out) {
  int64_t value = 0;
  if (!readInt(key, static_cast<int64_t>(min), static_cast<int64_t>(max), &value)) return false;
  *out = static_cast<int>(value);
  return true;
}

bool JsonReader::readOptionalInt(std::string_view key, int64_t min, int64_t max,
                                 std::optional<int64_t>* out) {
  int64_t value = 0;
  if (!readInt(key, min, max, &value)) return false;
  *out = value;
  return true;
}

bool JsonReader::readStringArray(std::string_view key, std::vector<std::string>* out,
                                 const ElementCheck& check, std::string_view duplicate_message) {
  const nlohmann::json* v = get(key);
  if (v == nullptr) return false;
  std::string field = path(key);
  if (!v->is_array()) {
    addError(field, "must be an array of strings");
    return false;
  }
  std::size_t errors_before = errors_->size();
  std::vector<std::string> values;
  values.reserve(v->size());
  for (std::size_t i = 0; i < v->size(); ++i) {
    const nlohmann::json& item = (*v)[i];
    if (!item.is_string()) {
      addError(indexPath(field, i), "must be a string");
      continue;
    }
    std::string value = item.get_ref<const std::string&>();
    if (check) {
      std::string message = check(value);
      if (!message.empty()) {
        addError(indexPath(field, i), std::move(message));
        continue;
      }
    }
    if (!duplicate_message.empty()) {
      bool duplicate = false;
      for (const std::string& seen : values) duplicate = duplicate || seen == value;
      if (duplicate) {
        addError(indexPath(field, i), std::string(duplicate_message));
        continue;
      }
    }
    values.push_back(std::move(value));
  }
  *out = std::move(values);
  return errors_->size() == errors_before;
}

void JsonReader::require(std::string_view key) {
  if (get(key) == nullptr) addError(path(key), "is required");
}

void JsonReader::finish() {
  if (object_ == nullptr) return;
  for (const auto& [key, value] : object_->items()) {
    if (known_.find(key) == known_.end()) addError(path(key), "unknown field");
  }
}

std::optional<int64_t> jsonToInt64(const nlohmann::json& value) {
  if (value.is_number_integer() && !value.is_number_unsigned()) return value.get<int64_t>();
  if (value.is_number_unsigned()) {
    uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (value.is_number_float()) {
    double d = value.get<double>();
    // 2^63 is exactly representable; anything at or beyond it does not fit.
    if (!std::isfinite(d) || std::trunc(d) != d || d < -9223372036854775808.0 ||
        d >= 9223372036854775808.0) {
      return std::nullopt;
    }
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

std::string rangeMessage(int64_t min, int64_t max) {
  if (max == std::numeric_limits<int64_t>::max()) {
    if (min == 0) return "must be a non-negative integer";
    if (min == 1) return "must be a positive integer";
    return "must be at least " + std::to_string(min);
  }
  return "must be between " + std::to_string(min) + " and " + std::to_string(max);
}

std::string indexPath(std::string_view field, std::size_t index) {
  std::string out(field);
  out += '[';
  out += std::to_string(index);
  out += ']';
  return out;
}

void prefixErrors(std::string_view prefix, const FieldErrors& in, FieldErrors* out) {
  for (const FieldError& e : in) {
    std::string field(prefix);
    if (!e.field.empty()) {
      // "[i]" continues a name directly; anything else is a member.
      if (!field.empty() && e.field.front() != '[') field += '.';
      field += e.field;
    }
    out->push_back({std::move(field), e.message});
  }
}

Error invalidEntity(std::string_view what, FieldErrors errors) {
  std::string summary = "invalid ";
  summary += what;
  summary += ": ";
  if (errors.size() == 1) {
    const FieldError& e = errors.front();
    summary += e.field.empty() ? e.message : e.field + ": " + e.message;
  } else {
    summary += std::to_string(errors.size()) + " errors";
  }
  return Error::invalid(std::move(summary), std::move(errors));
}

void readId(JsonReader& reader, std::string* id) {
  std::string value;
  if (!reader.readString("id", &value)) return;
  if (!isUuid(value)) {
    reader.addError("id", "must be a UUID");
    return;
  }
  // Ids are compared as strings elsewhere; one spelling avoids "same id, different case".
  *id = asciiLower(value);
}

void readTimestamps(JsonReader& reader, int64_t* created_at, int64_t* updated_at) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  reader.readInt("created_at", 0, kMax, created_at);
  reader.readInt("updated_at", 0, kMax, updated_at);
}

void readTags(JsonReader& reader, std::vector<std::string>* tags) {
  std::vector<std::string> values;
  if (!reader.readStringArray("tags", &values, checkTag, "duplicate tag")) return;
  if (values.size() > kMaxTags) {
    reader.addError(reader.path("tags"), "must have at most 32 tags");
    return;
  }
  *tags = std::move(values);
}

std::string checkMethod(std::string& method) {
  constexpr std::size_t kMaxMethodLength = 20;
  method = asciiUpper(method);
  if (method.empty() || method.size() > kMaxMethodLength ||
      !std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return "must be an HTTP method: 1 to 20 letters";
  }
  return "";
}

std::string checkName(std::string_view name, bool allow_at) {
  if (name.empty() || name.size() > 128) return "must be 1 to 128 characters";
  if (isUuid(name)) return "must not be a UUID";
  if (!isValidName(name, allow_at)) {
    return allow_at ? "may only contain letters, digits and . _ ~ - @"
                    : "may only contain letters, digits and . _ ~ -";
  }
  return "";
}

std::string checkReference(std::string& ref, bool allow_at) {
  if (isUuid(ref)) {
    ref = asciiLower(ref);
    return "";
  }
  if (!isValidName(ref, allow_at)) return "must be an id (UUID) or a valid name";
  return "";
}

std::string checkKeySelector(std::string& value, const std::vector<std::string_view>& plain) {
  constexpr std::string_view kHeader = "header:";
  if (value.rfind(kHeader, 0) == 0) {
    std::string_view name = std::string_view(value).substr(kHeader.size());
    if (!isHttpToken(name)) return "header:<name> needs a valid header name";
    // Header names are case-insensitive; keep one spelling.
    value = asciiLower(value);
    return "";
  }
  for (std::string_view p : plain) {
    if (value == p) return "";
  }
  std::string message = "must be one of ";
  for (std::string_view p : plain) {
    message += p;
    message += ", ";
  }
  message += "header:<name>";
  return message;
}

}  // namespace turnpike::model
