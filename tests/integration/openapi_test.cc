// GET /openapi.json describes the admin API completely (API.md "Operations"): it is OpenAPI
// 3.1, it documents every operation API.md lists, the server answers every documented
// operation, and every route the server dispatches (AdminApi::routes()) is documented.
#include "admin/openapi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
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
  for (const char* collection : {"/services", "/routes", "/consumers", "/rate-limit-policies"}) {
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
  for (const char* schema : {"Service", "Target", "HealthCheck", "Route", "RouteAuth", "Consumer",
                             "RateLimitPolicy", "ApiKey", "NewApiKey", "ApiKeyCreated", "Config",
                             "ConfigChanges", "HistoryEntry", "Problem"}) {
    EXPECT_TRUE(doc["components"]["schemas"].contains(schema)) << "no schema " << schema;
  }
  EXPECT_TRUE(doc["components"]["schemas"]["ApiKeyCreated"]["properties"].contains("key"));
  EXPECT_FALSE(doc["components"]["schemas"]["ApiKey"]["properties"].contains("key"));
  json problem = doc["components"]["schemas"]["Problem"]["properties"];
  for (const char* field : {"type", "title", "status", "detail", "errors"}) {
    EXPECT_TRUE(problem.contains(field)) << "Problem has no " << field;
  }
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
