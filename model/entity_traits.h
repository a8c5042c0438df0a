// Compile-time facts about the top-level entity kinds, so that the store and the admin
// handlers can treat them alike:
//
//   template <class T> void f() { auto r = EntityTraits<T>::parse(body); ... }
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "model/certificate.h"
#include "model/consumer.h"
#include "model/rate_limit_policy.h"
#include "model/result.h"
#include "model/route.h"
#include "model/service.h"

namespace turnpike::model {

template <class T>
struct EntityTraits;

template <>
struct EntityTraits<Service> {
  static constexpr std::string_view kType = "service";         // history entity_type
  static constexpr std::string_view kCollection = "services";  // URL segment and config key
  static constexpr std::string_view kNameField = "name";
  static constexpr bool kNameRequired = true;
  static std::string& name(Service& e) { return e.name; }
  static const std::string& name(const Service& e) { return e.name; }
  static Result<Service> parse(const nlohmann::json& body) { return parseService(body); }
};

template <>
struct EntityTraits<Route> {
  static constexpr std::string_view kType = "route";
  static constexpr std::string_view kCollection = "routes";
  static constexpr std::string_view kNameField = "name";
  static constexpr bool kNameRequired = false;
  static std::string& name(Route& e) { return e.name; }
  static const std::string& name(const Route& e) { return e.name; }
  static Result<Route> parse(const nlohmann::json& body) { return parseRoute(body); }
};

template <>
struct EntityTraits<Consumer> {
  static constexpr std::string_view kType = "consumer";
  static constexpr std::string_view kCollection = "consumers";
  static constexpr std::string_view kNameField = "username";
  static constexpr bool kNameRequired = true;
  static std::string& name(Consumer& e) { return e.username; }
  static const std::string& name(const Consumer& e) { return e.username; }
  static Result<Consumer> parse(const nlohmann::json& body) { return parseConsumer(body); }
};

template <>
struct EntityTraits<RateLimitPolicy> {
  static constexpr std::string_view kType = "rate_limit_policy";
  static constexpr std::string_view kCollection = "rate-limit-policies";
  static constexpr std::string_view kNameField = "name";
  static constexpr bool kNameRequired = true;
  static std::string& name(RateLimitPolicy& e) { return e.name; }
  static const std::string& name(const RateLimitPolicy& e) { return e.name; }
  static Result<RateLimitPolicy> parse(const nlohmann::json& body) {
    return parseRateLimitPolicy(body);
  }
};

// A certificate's key may be left out of a write: the store keeps the stored one (and says
// "key is required" when there is none).
template <>
struct EntityTraits<Certificate> {
  static constexpr std::string_view kType = "certificate";
  static constexpr std::string_view kCollection = "certificates";
  static constexpr std::string_view kNameField = "name";
  static constexpr bool kNameRequired = true;
  static std::string& name(Certificate& e) { return e.name; }
  static const std::string& name(const Certificate& e) { return e.name; }
  static Result<Certificate> parse(const nlohmann::json& body) {
    return parseCertificate(body, /*key_required=*/false);
  }
};

}  // namespace turnpike::model
