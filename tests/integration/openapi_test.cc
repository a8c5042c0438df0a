// GET /openapi.json describes the admin API completely (API.md "Operations"): it is OpenAPI
// 3.1, it documents every operation API.md lists, the server answers every documented
// operation, and every route the server dispatches (AdminApi::routes()) is documented.
#include "admin/openapi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "admin/admin_api.h"
#include "tests/support/admin_fixture.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using Operation = std::pair<std::string, std::string>;  // {"GET", "/services"}

// The operations API.md promises, in OpenAPI path-template form.
std::set<Operation> expectedOperations() {
  std::set<Operation> ops;
  for (const char* collection :
       {"/services", "/routes", "/consumers", "/rate-limit-policies", "/certificates"}) {
    const std::string c = collection;
    ops.insert({"GET", c});
    ops.insert({"POST", c});
    for (const char* method : {"GET", "PUT", "PATCH", "DELETE"}) {
      ops.insert({method, c + "/{id_or_name}"});
    }
  }
  ops.insert({"GET", "/consumers/{consumer}/keys"});
  ops.insert({"POST", "/consumers/{consumer}/keys"});
  ops.insert({"GET", "/consumers/{consumer}/keys/{key_id}"});
  ops.insert({"DELETE", "/consumers/{consumer}/keys/{key_id}"});
  ops.insert({"GET", "/routes/match"});
  ops.insert({"GET", "/health"});
  ops.insert({"GET", "/status"});
  ops.insert({"GET", "/config"});
  ops.insert({"PUT", "/config"});
  ops.insert({"GET", "/config/history"});
  ops.insert({"GET", "/config/history/{version}"});
  ops.insert({"POST", "/config/history/{version}/restore"});
  ops.insert({"GET", "/openapi.json"});
  ops.insert({"GET", "/metrics"});
  return ops;
}

const std::set<std::string> kHttpMethods = {"get",     "put",  "post",  "delete",
                                            "options", "head", "patch", "trace"};

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::set<Operation> documentedOperations(const json& doc) {
  std::set<Operation> ops;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (kHttpMethods.count(method)) ops.insert({upper(method), path});
    }
  }
  return ops;
}

std::string describe(const std::set<Operation>& ops) {
  std::string out;
  for (const auto& [m, p] : ops) out += "  " + m + " " + p + "\n";
  return out;
}

// Follows a local "$ref" ("#/components/schemas/Service"); null when it does not resolve.
json resolve(const json& doc, const std::string& ref) {
  if (!ref.starts_with("#/")) return nullptr;
  try {
    return doc.at(json::json_pointer(ref.substr(1)));
  } catch (const json::exception&) {
    return nullptr;
  }
}

void collectRefs(const json& node, std::vector<std::string>& refs) {
  if (node.is_object()) {
    for (const auto& [k, v] : node.items()) {
      if (k == "$ref" && v.is_string()) refs.push_back(v);
      collectRefs(v, refs);
    }
  } else if (node.is_array()) {
    for (const auto& v : node) collectRefs(v, refs);
  }
}

// The JSON Schema (2020-12) keywords the document uses, enough to check that real API bodies
// conform: $ref, oneOf, if/then/else, type, enum, const, properties, required,
// additionalProperties, propertyNames, maxProperties, items, minItems, maxItems, uniqueItems,
// minimum, maximum, minLength, maxLength, pattern. Each problem is "<where>: <what>".
class SchemaChecker {
 public:
  explicit SchemaChecker(const json& doc) : doc_(doc) {}

  std::vector<std::string> check(const json& schema, const json& value) const {
    std::vector<std::string> problems;
    visit(schema, value, "$", problems);
    return problems;
  }
  bool accepts(const json& schema, const json& value) const { return check(schema, value).empty(); }

 private:
  static bool hasType(const json& value, const std::string& type) {
    if (type == "integer") {
      return value.is_number_integer() ||
             (value.is_number_float() && std::trunc(value.get<double>()) == value.get<double>());
    }
    if (type == "number") return value.is_number();
    if (type == "string") return value.is_string();
    if (type == "boolean") return value.is_boolean();
    if (type == "object") return value.is_object();
    if (type == "array") return value.is_array();
    if (type == "null") return value.is_null();
    return false;
  }

  void visit(const json& schema, const json& value, const std::string& at,
             std::vector<std::string>& problems) const {
    auto fail = [&](const std::string& what) { problems.push_back(at + ": " + what); };
    if (schema.contains("$ref")) {
      json target = resolve(doc_, schema["$ref"]);
      if (target.is_null()) return fail("unresolved " + schema["$ref"].dump());
      visit(target, value, at, problems);
    }
    if (schema.contains("oneOf")) {
      int matches = 0;
      for (const json& option : schema["oneOf"]) matches += check(option, value).empty() ? 1 : 0;
      if (matches != 1) fail("matches " + std::to_string(matches) + " oneOf options, not 1");
    }
    if (schema.contains("if")) {
      const char* branch = check(schema["if"], value).empty() ? "then" : "else";
      if (schema.contains(branch)) visit(schema[branch], value, at, problems);
    }
    if (schema.contains("type")) {
      const json& types = schema["type"];
      bool ok = false;
      for (const json& type : types.is_array() ? types : json::array({types})) {
        ok |= hasType(value, type.get<std::string>());
      }
      if (!ok) return fail("is not of type " + types.dump() + ": " + value.dump());
    }
    if (schema.contains("enum") &&
        std::find(schema["enum"].begin(), schema["enum"].end(), value) == schema["enum"].end()) {
      fail("is not one of " + schema["enum"].dump());
    }
    if (schema.contains("const") && schema["const"] != value) {
      fail("is not " + schema["const"].dump());
    }
    if (value.is_number()) {
      if (schema.contains("minimum") && value.get<double>() < schema["minimum"].get<double>()) {
        fail("is below the minimum " + schema["minimum"].dump());
      }
      if (schema.contains("maximum") && value.get<double>() > schema["maximum"].get<double>()) {
        fail("is above the maximum " + schema["maximum"].dump());
      }
    }
    if (value.is_string()) {
      const std::string& text = value.get_ref<const std::string&>();
      if (schema.contains("minLength") && text.size() < schema["minLength"].get<size_t>()) {
        fail("is shorter than " + schema["minLength"].dump());
      }
      if (schema.contains("maxLength") && text.size() > schema["maxLength"].get<size_t>()) {
        fail("is longer than " + schema["maxLength"].dump());
      }
      if (schema.contains("pattern") &&
          !std::regex_search(text, std::regex(schema["pattern"].get<std::string>()))) {
        fail(value.dump() + " does not match " + schema["pattern"].dump());
      }
    }
    if (value.is_array()) {
      if (schema.contains("minItems") && value.size() < schema["minItems"].get<size_t>()) {
        fail("has fewer items than " + schema["minItems"].dump());
      }
      if (schema.contains("maxItems") && value.size() > schema["maxItems"].get<size_t>()) {
        fail("has more items than " + schema["maxItems"].dump());
      }
      if (schema.value("uniqueItems", false) &&
          std::set<json>(value.begin(), value.end()).size() != value.size()) {
        fail("has duplicate items");
      }
      if (schema.contains("items")) {
        for (size_t i = 0; i < value.size(); ++i) {
          visit(schema["items"], value[i], at + "[" + std::to_string(i) + "]", problems);
        }
      }
    }
    if (value.is_object()) {
      for (const json& name : schema.value("required", json::array())) {
        if (!value.contains(name.get<std::string>())) fail("lacks the required " + name.dump());
      }
      if (schema.contains("maxProperties") &&
          value.size() > schema["maxProperties"].get<size_t>()) {
        fail("has more members than " + schema["maxProperties"].dump());
      }
      const json properties = schema.value("properties", json::object());
      for (const auto& [name, member] : value.items()) {
        const std::string where = at + "." + name;
        if (schema.contains("propertyNames")) visit(schema["propertyNames"], name, where, problems);
        if (properties.contains(name)) {
          visit(properties[name], member, where, problems);
        } else if (schema.contains("additionalProperties")) {
          const json& extra = schema["additionalProperties"];
          if (extra == false) {
            problems.push_back(where + ": is not in the schema");
          } else if (extra.is_object()) {
            visit(extra, member, where, problems);
          }
        }
      }
    }
  }

  const json& doc_;
};

std::string lines(const std::vector<std::string>& problems) {
  std::string out;
  for (const std::string& p : problems) out += "  " + p + "\n";
  return out;
}

class AdminOpenApiTest : public AdminSuiteTest {
 protected:
  json document() {
    Response r = admin().get("/openapi.json");
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_TRUE(r.headerOr("Content-Type").starts_with("application/json")) << r;
    json doc = r.json();
    EXPECT_TRUE(doc.is_object() && doc.contains("paths")) << r;
    return doc;
  }
};

TEST_F(AdminOpenApiTest, IsOpenApi31) {
  json doc = document();
  ASSERT_TRUE(doc["openapi"].is_string()) << doc["openapi"];
  EXPECT_TRUE(doc["openapi"].get<std::string>().starts_with("3.1")) << doc["openapi"];
  EXPECT_EQ(doc["info"]["title"], "Turnpike admin API");
  EXPECT_TRUE(doc["info"]["version"].is_string());
  EXPECT_TRUE(doc["paths"].is_object());
  // Served as a document equal to the one built in code.
  EXPECT_EQ(doc, admin::openApiDocument());
}

TEST_F(AdminOpenApiTest, DocumentsEveryOperationOfApiMd) {
  std::set<Operation> documented = documentedOperations(document());
  std::set<Operation> missing;
  for (const Operation& op : expectedOperations()) {
    if (!documented.count(op)) missing.insert(op);
  }
  EXPECT_TRUE(missing.empty()) << "not in /openapi.json:\n" << describe(missing);
}

TEST_F(AdminOpenApiTest, EveryPathHasOperationsWithResponses) {
  json doc = document();
  for (const auto& [path, item] : doc["paths"].items()) {
    int operations = 0;
    for (const auto& [method, op] : item.items()) {
      if (!kHttpMethods.count(method)) continue;
      ++operations;
      EXPECT_TRUE(op.contains("responses") && op["responses"].is_object() &&
                  !op["responses"].empty())
          << method << " " << path << " has no responses";
      bool has_success = false;
      for (const auto& [code, response] : op["responses"].items()) {
        has_success |= code.starts_with("2");
      }
      EXPECT_TRUE(has_success) << method << " " << path << " documents no 2xx answer";
    }
    EXPECT_GT(operations, 0) << path << " has no operation";
  }
}

TEST_F(AdminOpenApiTest, EveryRefResolvesAndTheNamedSchemasExist) {
  json doc = document();
  std::vector<std::string> refs;
  collectRefs(doc, refs);
  EXPECT_FALSE(refs.empty());
  for (const std::string& ref : refs) {
    EXPECT_FALSE(resolve(doc, ref).is_null()) << "unresolved $ref " << ref;
  }
  for (const char* schema : {"Service",
                             "Target",
                             "HealthCheck",
                             "Route",
                             "RouteAuth",
                             "RequestTransform",
                             "ResponseTransform",
                             "PathRewrite",
                             "JsonShape",
                             "Aggregate",
                             "AggregateBackend",
                             "Consumer",
                             "RateLimitPolicy",
                             "ApiKey",
                             "NewApiKey",
                             "ApiKeyCreated",
                             "Config",
                             "ConfigChanges",
                             "HistoryEntry",
                             "Problem",
                             "Certificate",
                             "CertificateStatus",
                             "ServiceTls"}) {
    EXPECT_TRUE(doc["components"]["schemas"].contains(schema)) << "no schema " << schema;
  }
  EXPECT_TRUE(doc["components"]["schemas"]["ApiKeyCreated"]["properties"].contains("key"));
  EXPECT_FALSE(doc["components"]["schemas"]["ApiKey"]["properties"].contains("key"));
  json certificate = doc["components"]["schemas"]["Certificate"]["properties"];
  EXPECT_EQ(certificate["key"]["writeOnly"], true);
  for (const char* field : {"subject", "issuer", "not_before", "not_after", "key_type",
                            "fingerprint_sha256", "created_at", "updated_at"}) {
    EXPECT_EQ(certificate[field]["readOnly"], true) << field;
  }
  json problem = doc["components"]["schemas"]["Problem"]["properties"];
  for (const char* field : {"type", "title", "status", "detail", "errors"}) {
    EXPECT_TRUE(problem.contains(field)) << "Problem has no " << field;
  }
}

// The Route schema documents every field a route has (API.md "Optional route fields for
// transformation and aggregation" included): the bodies sent and the routes the API returns
// conform, and bodies the server refuses for the service/aggregate rule the schema refuses too.
TEST_F(AdminOpenApiTest, RouteSchemaDescribesRoutesWithTransformsAndAggregates) {
  json doc = document();
  const SchemaChecker checker(doc);
  const json route_schema = doc["components"]["schemas"]["Route"];
  ASSERT_TRUE(route_schema.is_object());
  for (const char* field : {"request_transform", "response_transform", "aggregate"}) {
    EXPECT_TRUE(route_schema["properties"].contains(field)) << "Route has no " << field;
  }
  const json response_transform = doc["components"]["schemas"]["ResponseTransform"];
  EXPECT_EQ(response_transform["properties"]["max_body_bytes"]["default"], 1048576);
  EXPECT_EQ(response_transform["properties"]["max_body_bytes"]["maximum"], 67108864);
  const json aggregate = doc["components"]["schemas"]["Aggregate"];
  EXPECT_EQ(aggregate["properties"]["backends"]["maxItems"], 16);
  EXPECT_EQ(aggregate["properties"]["timeout_ms"]["default"], 10000);

  const std::string service = uniqueName("oas-svc");
  ASSERT_FALSE(mustCreate("/services", serviceBody(service)).is_null());
  json plain = routeBody(uniqueName("oas-plain"), service);
  json transformed = routeBody(uniqueName("oas-shaped"), service);
  transformed["request_transform"] = {
      {"set_headers", {{"x-api-version", "2"}}},
      {"remove_headers", {"cookie"}},
      {"rename_headers", {{"x-old", "x-new"}}},
      {"set_query", {{"v", "2"}}},
      {"remove_query", {"debug"}},
      {"rewrite_path", {{"match", "^/api/v1/(.*)$"}, {"replace", "/v2/\\1"}}}};
  transformed["response_transform"] = {{"remove_headers", {"server"}},
                                       {"json",
                                        {{"allow", {"id", "items.name"}},
                                         {"deny", {"internal"}},
                                         {"rename", {{"usr", "user"}}},
                                         {"wrap", "data"}}},
                                       {"max_body_bytes", 65536}};
  json fan_out = {{"name", uniqueName("oas-aggregate")},
                  {"paths", {"/oas-users/{id}"}},
                  {"request_transform", {{"set_headers", {{"x-from", "aggregate"}}}}},
                  {"aggregate",
                   {{"backends",
                     {{{"service", service},
                       {"path", "/users/{id}"},
                       {"group", "user"},
                       {"required", true},
                       {"timeout_ms", 500},
                       {"json", {{"deny", {"password"}}}}},
                      {{"service", service}, {"path", "/orders?user=1"}, {"method", "get"}}}},
                    {"timeout_ms", 2000}}}};

  for (const json& body : {plain, transformed, fan_out}) {
    const std::string name = body["name"];
    EXPECT_TRUE(checker.accepts(route_schema, body))
        << "the request body of " << name << " does not conform:\n"
        << lines(checker.check(route_schema, body));
    json created = mustCreate("/routes", body);
    ASSERT_FALSE(created.is_null()) << name;
    for (const json& returned : {created, mustGet("/routes/" + name)}) {
      EXPECT_TRUE(checker.accepts(route_schema, returned))
          << "the route " << name << " as returned does not conform:\n"
          << lines(checker.check(route_schema, returned)) << returned.dump(2);
    }
  }
  json fetched = mustGet("/routes/" + fan_out["name"].get<std::string>());
  EXPECT_TRUE(fetched["service"].is_null()) << fetched;
  EXPECT_TRUE(fetched.contains("aggregate")) << fetched;
  EXPECT_FALSE(mustGet("/routes/" + plain["name"].get<std::string>()).contains("aggregate"));

  Response page = admin().get("/routes?size=1000");
  ASSERT_EQ(page.status, 200) << page;
  const json list_schema = doc["components"]["schemas"]["RouteList"];
  EXPECT_TRUE(checker.accepts(list_schema, page.json()))
      << lines(checker.check(list_schema, page.json()));

  // What the server refuses, the schema refuses (and nothing of it is stored).
  json no_target = plain;
  no_target["name"] = uniqueName("oas-bad");
  no_target.erase("service");
  json both = fan_out;
  both["name"] = uniqueName("oas-bad");
  both["service"] = service;
  json zero_cap = transformed;
  zero_cap["name"] = uniqueName("oas-bad");
  zero_cap["response_transform"]["max_body_bytes"] = 0;
  json no_backends = fan_out;
  no_backends["name"] = uniqueName("oas-bad");
  no_backends["aggregate"]["backends"] = json::array();
  for (const json& body : {no_target, both, zero_cap, no_backends}) {
    EXPECT_FALSE(checker.accepts(route_schema, body)) << "the schema accepts " << body.dump();
    Response r = admin().post("/routes", body);
    EXPECT_EQ(r.status, 400) << body.dump() << "\n" << r;
    EXPECT_EQ(admin().get("/routes/" + body["name"].get<std::string>()).status, 404);
  }
}

// The Service schema documents https:// targets and the tls object: a service with both, as
// sent and as answered, conforms, and tls fields the server refuses the schema refuses too.
TEST_F(AdminOpenApiTest, ServiceSchemaDescribesTlsAndHttpsTargets) {
  json doc = document();
  const SchemaChecker checker(doc);
  const json service_schema = doc["components"]["schemas"]["Service"];
  ASSERT_TRUE(service_schema["properties"].contains("tls"));
  EXPECT_EQ(doc["components"]["schemas"]["ServiceTls"]["properties"]["verify"]["default"], true);
  EXPECT_TRUE(doc["paths"]["/certificates/{id_or_name}"]["delete"]["responses"].contains("409"));

  const std::string name = uniqueName("oas-tls");
  json body = serviceBody(name);
  body["targets"] = {{{"url", "https://10.0.0.5:8443"}}, {{"url", "http://10.0.0.5:8080"}}};
  body["tls"] = {{"verify", false}, {"server_name", "orders.internal"}, {"ca", nullptr}};
  EXPECT_TRUE(checker.accepts(service_schema, body)) << lines(checker.check(service_schema, body));
  json created = mustCreate("/services", body);
  ASSERT_TRUE(created.is_object());
  EXPECT_TRUE(checker.accepts(service_schema, created))
      << lines(checker.check(service_schema, created)) << created.dump(2);
  json plain = mustCreate("/services", serviceBody(uniqueName("oas-plain")));
  EXPECT_TRUE(checker.accepts(service_schema, plain))
      << lines(checker.check(service_schema, plain));

  json unknown = body;
  unknown["name"] = uniqueName("oas-bad");
  unknown["tls"]["alpn"] = "h2";
  json not_bool = body;
  not_bool["name"] = uniqueName("oas-bad");
  not_bool["tls"]["verify"] = "yes";
  json ftp = body;
  ftp["name"] = uniqueName("oas-bad");
  ftp["targets"][0]["url"] = "ftp://10.0.0.5";
  for (const json& bad : {unknown, not_bool, ftp}) {
    EXPECT_FALSE(checker.accepts(service_schema, bad)) << "the schema accepts " << bad.dump();
    Response r = admin().post("/services", bad);
    EXPECT_EQ(r.status, 400) << bad.dump() << "\n" << r;
  }
}

// The Service schema documents protocol and idle_timeout_ms with API.md's values and defaults;
// a service that sets them conforms as sent and as answered, and bad values the server refuses
// the schema refuses too. http2 and grpc are in the contract: the schema lists them and says
// this build refuses them, which it does.
TEST_F(AdminOpenApiTest, ServiceSchemaDescribesProtocolAndIdleTimeout) {
  json doc = document();
  const SchemaChecker checker(doc);
  const json service_schema = doc["components"]["schemas"]["Service"];
  const json& protocol = service_schema["properties"]["protocol"];
  EXPECT_EQ(protocol["enum"], json({"http1", "http2", "grpc"}));
  EXPECT_EQ(protocol["default"], "http1");
  EXPECT_NE(protocol["description"].get<std::string>().find("refuses http2 and grpc"),
            std::string::npos);
  const json& idle = service_schema["properties"]["idle_timeout_ms"];
  EXPECT_EQ(idle["default"], 60000);
  EXPECT_EQ(idle["minimum"], 1);
  EXPECT_EQ(idle["maximum"], 86400000);

  json body = serviceBody(uniqueName("oas-proto"));
  body["protocol"] = "http1";
  body["idle_timeout_ms"] = 90000;
  EXPECT_TRUE(checker.accepts(service_schema, body)) << lines(checker.check(service_schema, body));
  json created = mustCreate("/services", body);
  ASSERT_TRUE(created.is_object());
  EXPECT_TRUE(checker.accepts(service_schema, created))
      << lines(checker.check(service_schema, created)) << created.dump(2);

  json unknown = body;
  unknown["protocol"] = "h2c";
  json zero = body;
  zero["idle_timeout_ms"] = 0;
  json too_long = body;
  too_long["idle_timeout_ms"] = 86400001;
  for (json bad : {unknown, zero, too_long}) {
    bad["name"] = uniqueName("oas-bad");
    EXPECT_FALSE(checker.accepts(service_schema, bad)) << "the schema accepts " << bad.dump();
    Response r = admin().post("/services", bad);
    EXPECT_EQ(r.status, 400) << bad.dump() << "\n" << r;
  }
  json http2 = body;
  http2["name"] = uniqueName("oas-h2");
  http2["protocol"] = "http2";
  EXPECT_TRUE(checker.accepts(service_schema, http2));
  Response refused = admin().post("/services", http2);
  EXPECT_EQ(refused.status, 400) << refused;
  EXPECT_TRUE(namesField(refused, "protocol")) << refused;
}

TEST_F(AdminOpenApiTest, SecurityIsBearerEverywhereButHealth) {
  json doc = document();
  const json& schemes = doc["components"]["securitySchemes"];
  ASSERT_TRUE(schemes.is_object() && !schemes.empty()) << doc["components"];
  std::string bearer_name;
  for (const auto& [name, scheme] : schemes.items()) {
    if (scheme.value("type", "") == "http" && lower(scheme.value("scheme", "")) == "bearer") {
      bearer_name = name;
    }
  }
  ASSERT_FALSE(bearer_name.empty()) << "no http bearer security scheme";
  ASSERT_TRUE(doc["security"].is_array()) << "no global security requirement";
  bool global_bearer = false;
  for (const auto& req : doc["security"]) global_bearer |= req.contains(bearer_name);
  EXPECT_TRUE(global_bearer);
  EXPECT_EQ(doc["paths"]["/health"]["get"]["security"], json::array())
      << "GET /health needs no token";
  for (const auto& [path, item] : doc["paths"].items()) {
    if (path == "/health") continue;
    for (const auto& [method, op] : item.items()) {
      if (kHttpMethods.count(method) && op.contains("security")) {
        EXPECT_NE(op["security"], json::array()) << method << " " << path << " drops the token";
      }
    }
  }
}

// The documented parameters, headers and statuses that clients rely on.
TEST_F(AdminOpenApiTest, DocumentsParametersHeadersAndStatuses) {
  json doc = document();
  // Parameter names of an operation, path-level ones included, with $refs followed.
  auto params = [&](const std::string& path, const std::string& method) {
    std::set<std::string> names;
    json all = json::array();
    for (const json* list :
         {&doc["paths"][path]["parameters"], &doc["paths"][path][method]["parameters"]}) {
      if (list->is_array()) {
        for (const auto& p : *list) all.push_back(p);
      }
    }
    for (json p : all) {
      if (p.contains("$ref")) p = resolve(doc, p["$ref"]);
      if (p.is_object()) names.insert(p.value("name", ""));
    }
    return names;
  };
  auto response = [&](const std::string& path, const std::string& method, const std::string& code) {
    json r = doc["paths"][path][method]["responses"].value(code, json());
    if (r.contains("$ref")) r = resolve(doc, r["$ref"]);
    return r;
  };
  auto hasHeader = [&](const json& r, const std::string& name) {
    return r.is_object() && r.contains("headers") && r["headers"].contains(name);
  };

  for (const std::string c : {"/services", "/routes", "/consumers", "/rate-limit-policies"}) {
    const std::string item = c + "/{id_or_name}";
    std::set<std::string> list_params = params(c, "get");
    for (const char* p : {"size", "after", "tags"}) {
      EXPECT_TRUE(list_params.count(p)) << "GET " << c << " lacks ?" << p;
    }
    json created = response(c, "post", "201");
    EXPECT_TRUE(hasHeader(created, "Location")) << "POST " << c;
    EXPECT_TRUE(hasHeader(created, "ETag")) << "POST " << c;
    EXPECT_TRUE(hasHeader(created, "X-Config-Version")) << "POST " << c;
    for (const char* code : {"400", "401", "409", "413"}) {
      EXPECT_FALSE(response(c, "post", code).is_null()) << "POST " << c << " " << code;
    }
    EXPECT_TRUE(hasHeader(response(item, "get", "200"), "ETag")) << "GET " << item;
    EXPECT_FALSE(response(item, "get", "404").is_null()) << "GET " << item;
    for (const char* method : {"put", "patch", "delete"}) {
      EXPECT_TRUE(params(item, method).count("If-Match")) << method << " " << item;
      EXPECT_FALSE(response(item, method, "412").is_null()) << method << " " << item;
    }
    EXPECT_FALSE(response(item, "put", "201").is_null()) << "PUT creates when absent";
    // Read-your-writes on every write (DESIGN.md "Configuration propagation", step 6).
    for (const auto& [path, method] : {std::pair<std::string, std::string>{c, "post"},
                                       {item, "put"},
                                       {item, "patch"},
                                       {item, "delete"}}) {
      EXPECT_TRUE(params(path, method).count("wait_for_proxy")) << method << " " << path;
      EXPECT_TRUE(params(path, method).count("wait_timeout_ms")) << method << " " << path;
      EXPECT_FALSE(response(path, method, "504").is_null()) << method << " " << path;
    }
    EXPECT_TRUE(hasHeader(response(item, "delete", "204"), "X-Config-Version"));
    EXPECT_TRUE(params(item, "get").count("id_or_name"));
  }
  EXPECT_TRUE(params("/config", "put").count("dry_run"));
  EXPECT_TRUE(params("/config", "put").count("wait_for_proxy"));
  EXPECT_TRUE(params("/routes/match", "get").count("path"));
  EXPECT_TRUE(params("/config/history/{version}", "get").count("version"));
  json key_created = response("/consumers/{consumer}/keys", "post", "201");
  EXPECT_TRUE(hasHeader(key_created, "Cache-Control")) << key_created;
  EXPECT_TRUE(params("/consumers/{consumer}/keys/{key_id}", "delete").count("key_id"));
}

// Asks the live server each documented operation. "No such route" (404 for an unknown path,
// or 405) means the document promises something the server does not serve; any other answer
// (400 for a bad body, 404 for a missing entity, ...) shows the route exists.
TEST(AdminOpenApiProbeTest, ServerAnswersEveryDocumentedOperation) {
  TurnpikeProcess tp;  // its own empty database: the probes include PUT /config and restore
  ASSERT_TRUE(tp.start());
  HttpClient admin = tp.adminClient();
  json doc = admin.get("/openapi.json").json();
  ASSERT_TRUE(doc.is_object());

  // What the server says for a path it has no route for.
  const std::string unknown_path = "/no-such-route-" + randomToken().substr(5, 8);
  Response unknown = admin.get(unknown_path);
  ASSERT_EQ(unknown.status, 404) << unknown;
  const std::string unknown_detail = unknown.json().value("detail", "");
  ASSERT_FALSE(unknown_detail.empty()) << unknown;
  // The detail may quote the path; compare with the path taken out.
  auto pattern = [](std::string detail, const std::string& path) {
    size_t at = detail.find(path);
    if (at != std::string::npos) detail.replace(at, path.size(), "{path}");
    return detail;
  };
  const std::string no_route = pattern(unknown_detail, unknown_path);
  auto isNoRoute = [&](const Response& r, const std::string& path) {
    if (r.status == 405) return true;
    return r.status == 404 && pattern(r.json().value("detail", ""), path) == no_route;
  };
  ASSERT_TRUE(isNoRoute(admin.get("/also/unknown"), "/also/unknown"));

  const std::map<std::string, std::string> samples = {
      {"{id_or_name}", "probe-missing"},
      {"{consumer}", "probe-missing"},
      {"{key_id}", "00000000-0000-4000-8000-000000000000"},
      {"{version}", "999"}};
  std::set<Operation> unanswered;
  for (const Operation& op : documentedOperations(doc)) {
    std::string path = op.second;
    for (const auto& [param, value] : samples) {
      for (size_t at; (at = path.find(param)) != std::string::npos;) {
        path.replace(at, param.size(), value);
      }
    }
    ASSERT_EQ(path.find('{'), std::string::npos) << "no sample value for " << op.second;
    std::string target = path;
    if (op.second == "/config" || op.second.ends_with("/restore")) target += "?dry_run=true";
    const bool has_body = op.first == "POST" || op.first == "PUT" || op.first == "PATCH";
    // A body no write accepts ("tags" must be an array), so that no probe changes anything.
    Response r = admin.request(op.first, target, has_body ? R"({"tags": 1})" : "");
    EXPECT_NE(r.status, 0) << op.first << " " << target << ": " << r.error;
    EXPECT_LT(r.status, 500) << op.first << " " << target << "\n" << r;
    if (isNoRoute(r, path)) unanswered.insert(op);
  }
  EXPECT_TRUE(unanswered.empty()) << "documented but answered as an unknown route:\n"
                                  << describe(unanswered);
  // None of the probes wrote anything.
  EXPECT_EQ(admin.get("/status").json().value("config_version", -1), 0);
}

// The strongest check, in-process: the dispatch table and the document are the same set.
TEST(AdminOpenApiRoutesTest, AdminApiRoutesAreExactlyTheDocumentedOperations) {
  std::set<Operation> routes;
  for (const admin::RouteSpec& spec : admin::AdminApi::routes()) {
    routes.insert({upper(spec.method), spec.path});
  }
  std::set<Operation> documented = documentedOperations(admin::openApiDocument());
  std::set<Operation> undocumented, unrouted;
  std::set_difference(routes.begin(), routes.end(), documented.begin(), documented.end(),
                      std::inserter(undocumented, undocumented.end()));
  std::set_difference(documented.begin(), documented.end(), routes.begin(), routes.end(),
                      std::inserter(unrouted, unrouted.end()));
  EXPECT_TRUE(undocumented.empty()) << "AdminApi::routes() not in the document:\n"
                                    << describe(undocumented);
  EXPECT_TRUE(unrouted.empty()) << "documented but not in AdminApi::routes():\n"
                                << describe(unrouted);
  // And both are what API.md lists.
  std::set<Operation> expected = expectedOperations();
  std::set<Operation> beyond;
  std::set_difference(routes.begin(), routes.end(), expected.begin(), expected.end(),
                      std::inserter(beyond, beyond.end()));
  std::set<Operation> lacking;
  std::set_difference(expected.begin(), expected.end(), routes.begin(), routes.end(),
                      std::inserter(lacking, lacking.end()));
  EXPECT_TRUE(lacking.empty()) << "API.md operations the server does not route:\n"
                               << describe(lacking);
  EXPECT_TRUE(beyond.empty()) << "routes API.md does not list (update the expected list when "
                                 "API.md grows):\n"
                              << describe(beyond);
}

}  // namespace
}  // namespace turnpike::test_support
