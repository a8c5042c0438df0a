#include "model/consumer.h"

#include <utility>

#include "model/json_reader.h"
#include "model/validation.h"

namespace turnpike::model {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxCustomIdLength = 256;

std::string checkGroup(std::string& group) { return checkName(group); }
std::string checkPolicyRef(std::string& ref) { return checkReference(ref); }

}  // namespace

json toJson(const Consumer& consumer) {
  return {{"id", consumer.id.empty() ? json(nullptr) : json(consumer.id)},
          {"username", consumer.username},
          {"custom_id", consumer.custom_id.empty() ? json(nullptr) : json(consumer.custom_id)},
          {"groups", consumer.groups},
          {"rate_limit_policies", consumer.rate_limit_policies},
          {"tags", consumer.tags},
          {"created_at", consumer.created_at},
          {"updated_at", consumer.updated_at}};
}

Result<Consumer> parseConsumer(const json& body) {
  FieldErrors errors;
  Consumer consumer;
  JsonReader r(body, "", &errors);
  if (r.isObject()) {
    readId(r, &consumer.id);
    if (r.get("username") == nullptr) {
      r.addError("username", "is required");
    } else if (r.readString("username", &consumer.username)) {
      std::string message = checkName(consumer.username, /*allow_at=*/true);
      if (!message.empty()) r.addError("username", std::move(message));
    }
    if (r.readString("custom_id", &consumer.custom_id)) {
      std::size_t length = utf8Length(consumer.custom_id);
      if (length < 1 || length > kMaxCustomIdLength) {
        r.addError("custom_id", "must be 1 to 256 characters");
      } else if (hasControlChars(consumer.custom_id)) {
        r.addError("custom_id", "must not contain control characters");
      }
    }
    r.readStringArray("groups", &consumer.groups, checkGroup, "duplicate group");
    r.readStringArray("rate_limit_policies", &consumer.rate_limit_policies, checkPolicyRef,
                      "duplicate policy");
    readTags(r, &consumer.tags);
    readTimestamps(r, &consumer.created_at, &consumer.updated_at);
    r.finish();
  }
  if (!errors.empty()) return invalidEntity("consumer", std::move(errors));
  return consumer;
}

}  // namespace turnpike::model
