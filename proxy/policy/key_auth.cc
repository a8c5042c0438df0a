#include "proxy/policy/key_auth.h"

#include <vector>

#include "model/api_key.h"
#include "proxy/policy/route_transforms.h"

namespace turnpike::proxy::policy {

bool VerifiedKeys::ConstantTimeEqual::operator()(std::string_view a,
                                                 std::string_view b) const noexcept {
  return model::constantTimeEquals(a, b);
}

const KeyEntry* VerifiedKeys::find(const Snapshot& snapshot, std::string_view presented) {
  const uint64_t build = snapshot.buildId();
  if (build < build_id_) return snapshot.findKey(model::sha256Hex(presented));
  forgetUnless(snapshot);
  if (auto it = entries_.find(presented); it != entries_.end()) return it->second;
  const KeyEntry* entry = snapshot.findKey(model::sha256Hex(presented));
  if (entry != nullptr) {
    if (entries_.size() >= capacity_) entries_.clear();
    entries_.try_emplace(std::string(presented), entry);
  }
  return entry;
}

void VerifiedKeys::forgetUnless(const Snapshot& current) {
  if (current.buildId() <= build_id_) return;  // the same, or older than what find() saw
  entries_.clear();
  build_id_ = current.buildId();
}

std::optional<std::string_view> queryParameter(std::string_view query, std::string_view name) {
  if (query.empty()) return std::nullopt;
  std::optional<std::string_view> found;
  forEachQueryParameter(query, [&](std::string_view parameter, std::string_view parameter_name) {
    if (parameter_name != name) return false;
    found = parameter.size() > name.size() ? parameter.substr(name.size() + 1) : std::string_view();
    return true;
  });
  return found;
}

std::string removeQueryParameter(std::string_view query, std::string_view name) {
  if (!queryParameter(query, name)) return std::string(query);
  std::string out;
  out.reserve(query.size());
  bool first = true;
  forEachQueryParameter(query, [&](std::string_view parameter, std::string_view parameter_name) {
    if (parameter_name == name) return false;
    if (!first) out.push_back('&');
    out.append(parameter);
    first = false;
    return false;
  });
  return out;
}

KeyAuthResult authenticate(const Snapshot& snapshot, const CompiledRoute& route,
                           const HeaderView& headers, std::string_view query, int64_t now_unix,
                           VerifiedKeys* verified) {
  KeyAuthResult result;
  if (!route.needs_key) return result;  // kNotRequired
  const model::RouteAuth& auth = route.def->auth;

  std::string_view presented;
  for (const std::string& name : auth.key_names) {
    headers.visit(name, [&](std::string_view value) {
      presented = value;
      return true;  // the first occurrence only
    });
    if (!presented.empty()) {
      result.found_in_header = name;
      break;
    }
  }
  if (presented.empty() && !query.empty()) {
    for (const std::string& name : auth.key_names) {
      std::optional<std::string_view> value = queryParameter(query, name);
      if (value && !value->empty()) {
        presented = *value;
        result.found_in_query = name;
        break;
      }
    }
  }
  if (presented.empty()) {
    result.outcome = AuthOutcome::kMissing;
    return result;
  }

  std::string decoded;
  if (!result.found_in_query.empty() && presented.find('%') != std::string_view::npos) {
    decoded = percentDecode(presented);
    presented = decoded;
  }
  const KeyEntry* entry = verified != nullptr ? verified->find(snapshot, presented)
                                              : snapshot.findKey(model::sha256Hex(presented));
  if (entry == nullptr) {
    result.outcome = AuthOutcome::kUnknown;
  } else if (entry->key->expires_at && now_unix >= *entry->key->expires_at) {
    result.outcome = AuthOutcome::kExpired;
  } else {
    result.outcome = AuthOutcome::kAuthenticated;
    result.entry = entry;
  }
  return result;
}

bool allowedByGroups(const CompiledRoute& route, const CompiledConsumer* consumer) {
  if (!route.has_allow_groups) return true;
  const std::vector<std::string>& allowed = route.def->allow_groups;
  if (consumer == nullptr) return false;
  for (const std::string& group : allowed) {
    if (consumer->inGroup(group)) return true;
  }
  return false;
}

}  // namespace turnpike::proxy::policy
