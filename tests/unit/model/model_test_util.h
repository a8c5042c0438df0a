// Helpers shared by the model tests: table-driven validation cases and field-error matchers.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "model/result.h"

namespace turnpike::model::testing {

// One validation rule: `patch` (RFC 7396 merge patch; null removes a field) turns a valid base
// document into one that breaks the rule, which must be reported on `field` with a message
// containing `message`, and as the only error.
struct RuleCase {
  std::string label;
  nlohmann::json patch;
  std::string field;
  std::string message;
};

inline std::ostream& operator<<(std::ostream& os, const RuleCase& c) { return os << c.label; }

inline nlohmann::json patched(nlohmann::json base, const nlohmann::json& patch) {
  base.merge_patch(patch);
  return base;
}

inline std::string describe(const FieldErrors& errors) {
  std::string out = "[";
  for (const FieldError& e : errors) out += "{" + e.field + ": " + e.message + "} ";
  return out + "]";
}

// True when `r` failed as kInvalid with an error on exactly `field` whose message holds
// `message`.
template <class T>
::testing::AssertionResult hasFieldError(const Result<T>& r, std::string_view field,
                                         std::string_view message) {
  if (r.ok()) return ::testing::AssertionFailure() << "parse succeeded";
  if (r.error().code != ErrorCode::kInvalid) {
    return ::testing::AssertionFailure() << "error code is not kInvalid";
  }
  for (const FieldError& e : r.error().fields) {
    if (e.field == field && e.message.find(message) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure()
         << "no error {" << field << ": ~" << message << "} in " << describe(r.error().fields);
}

// Checks one RuleCase against `parse` and the valid `base`.
template <class Parse>
void expectRule(Parse parse, const nlohmann::json& base, const RuleCase& c) {
  nlohmann::json input = patched(base, c.patch);
  auto r = parse(input);
  ASSERT_FALSE(r.ok()) << c.label << ": accepted " << input.dump();
  EXPECT_TRUE(hasFieldError(r, c.field, c.message)) << c.label << ": " << input.dump();
  EXPECT_EQ(r.error().fields.size(), 1u)
      << c.label << ": expected one error, got " << describe(r.error().fields);
}

// gtest parameter names: letters, digits and '_' only.
inline std::string caseName(const ::testing::TestParamInfo<RuleCase>& info) {
  std::string out;
  for (char c : info.param.label) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

}  // namespace turnpike::model::testing
