// The OpenAPI 3.1 document of the admin API (API.md), built once in code.
//
// The entity collections share one shape (list/create, get/put/patch/delete by id or
// name), so their paths are generated from a table; everything else is written out.
#include "admin/openapi.h"

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>

namespace turnpike::admin {
namespace {

using nlohmann::json;

json ref(const std::string& kind, const std::string& name) {
  return {{"$ref", "#/components/" + kind + "/" + name}};
}
json schemaRef(const std::string& name) { return ref("schemas", name); }
json paramRef(const std::string& name) { return ref("parameters", name); }
json responseRef(const std::string& name) { return ref("responses", name); }
json headerRef(const std::string& name) { return ref("headers", name); }

json stringArray(const std::string& description = "") {
  json s = {{"type", "array"}, {"items", {{"type", "string"}}}};
  if (!description.empty()) s["description"] = description;
  return s;
}

json integer(int64_t minimum, int64_t maximum, int64_t default_value) {
  return {
      {"type", "integer"}, {"minimum", minimum}, {"maximum", maximum}, {"default", default_value}};
}

// The fields every top-level entity carries (API.md "Conventions").
void addEntityFields(json& properties) {
  properties["id"] = {{"type", "string"},
                      {"format", "uuid"},
                      {"description", "UUID v4; made by the server unless given on create."}};
  properties["created_at"] = {
      {"type", "integer"}, {"readOnly", true}, {"description", "Unix seconds."}};
  properties["updated_at"] = {
      {"type", "integer"}, {"readOnly", true}, {"description", "Unix seconds."}};
  properties["tags"] = stringArray();
}

json jsonContent(const json& schema) { return {{"application/json", {{"schema", schema}}}}; }

json entityNameSchema(bool allow_at = false) {
  return {{"type", "string"},
          {"minLength", 1},
          {"maxLength", 128},
          {"pattern", allow_at ? "^[A-Za-z0-9._~@-]+$" : "^[A-Za-z0-9._~-]+$"},
          {"description", "Unique; not a UUID, so that /{id_or_name} is unambiguous."}};
}

// The optional route members of model/route_transform.h, with the limits its readers enforce.
void addRouteTransformSchemas(json& s) {
  // name -> string, at most 64 entries (readStringMap).
  auto string_map = [](const std::string& description, json key_schema, json value_schema) {
    return json{{"type", "object"},
                {"maxProperties", 64},
                {"propertyNames", std::move(key_schema)},
                {"additionalProperties", std::move(value_schema)},
                {"description", description}};
  };
  const json header_name = {
      {"type", "string"},
      {"pattern", "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},
      {"description", "A header name, stored lower case; not one Turnpike sets itself."}};
  const json header_value = {{"type", "string"}, {"maxLength", 4096}};
  const json header_names = {{"type", "array"},
                             {"uniqueItems", true},
                             {"items", header_name},
                             {"default", json::array()},
                             {"description", "Header names to remove (case-insensitive)."}};
  const json query_name = {{"type", "string"}, {"minLength", 1}, {"maxLength", 256}};
  const json dot_path = {{"type", "string"},
                         {"minLength", 1},
                         {"maxLength", 512},
                         {"pattern", "^[^.]+(\\.[^.]+)*$"},
                         {"description", "Member names joined by '.'."}};
  const json member_name = {
      {"type", "string"}, {"minLength", 1}, {"maxLength", 256}, {"pattern", "^[^.]+$"}};
  const json timeout_ms = integer(1, 600000, 10000);

  json wrap = member_name;
  wrap["type"] = {"string", "null"};
  wrap["default"] = nullptr;
  wrap["description"] = "Puts the result under this one member; null: not wrapped.";
  s["JsonShape"] = {
      {"type", "object"},
      {"description",
       "How a JSON body is reshaped, in this order: allow keeps only the listed dot paths "
       "(empty: everything), deny drops the listed dot paths, rename renames the member a dot "
       "path names, wrap puts the result under one member. A dot path walks objects; an array "
       "of objects on the way applies the rest of the path to each element."},
      {"additionalProperties", false},
      {"properties",
       {{"allow",
         {{"type", "array"},
          {"maxItems", 64},
          {"uniqueItems", true},
          {"items", dot_path},
          {"default", json::array()}}},
        {"deny",
         {{"type", "array"},
          {"maxItems", 64},
          {"uniqueItems", true},
          {"items", dot_path},
          {"default", json::array()}}},
        {"rename",
         string_map("Dot path -> the member's new name (replaces the path's last segment).",
                    dot_path, member_name)},
        {"wrap", std::move(wrap)}}}};

  s["PathRewrite"] = {
      {"type", "object"},
      {"description", "Rewrites the upstream path (after strip_path)."},
      {"additionalProperties", false},
      {"required", {"match", "replace"}},
      {"properties",
       {{"match",
         {{"type", "string"},
          {"minLength", 1},
          {"examples", {"^/api/v1/(.*)$"}},
          {"description", "RE2, searched in the path (anchor it with ^...$ to match it whole)."}}},
        {"replace",
         {{"type", "string"},
          {"pattern", "^/[^ ?#]*$"},
          {"examples", {"/v2/\\1"}},
          {"description",
           "Starts with '/'; \\1..\\9 insert match's capture groups. No spaces, control "
           "characters, '?' or '#'."}}}}}};

  s["RequestTransform"] = {
      {"type", "object"},
      {"description",
       "Edits the request on its way upstream, in this order: remove_headers, rename_headers, "
       "set_headers; remove_query, set_query; rewrite_path. Headers Turnpike owns (framing, "
       "hop-by-hop, Host, X-Forwarded-*, X-Consumer-*, X-Request-Id) cannot be set, removed or "
       "renamed."},
      {"additionalProperties", false},
      {"properties",
       {{"set_headers",
         string_map("Header name -> value (replaces every value).", header_name, header_value)},
        {"remove_headers", header_names},
        {"rename_headers", string_map("Old header name -> new header name.", header_name,
                                      {{"type", "string"}, {"pattern", header_name["pattern"]}})},
        {"set_query", string_map("Query parameter -> value (raw; encoded when sent).", query_name,
                                 {{"type", "string"}, {"maxLength", 4096}})},
        {"remove_query",
         {{"type", "array"},
          {"uniqueItems", true},
          {"items", query_name},
          {"default", json::array()},
          {"description", "Query parameter names (raw) to remove."}}},
        {"rewrite_path",
         {{"oneOf", {schemaRef("PathRewrite"), {{"type", "null"}}}}, {"default", nullptr}}}}}};

  s["ResponseTransform"] = {
      {"type", "object"},
      {"description",
       "Edits the upstream's response, in this order: remove_headers, set_headers, then the "
       "JSON body (json)."},
      {"additionalProperties", false},
      {"properties",
       {{"set_headers",
         string_map("Header name -> value (replaces every value).", header_name, header_value)},
        {"remove_headers", header_names},
        {"json",
         {{"oneOf", {schemaRef("JsonShape"), {{"type", "null"}}}},
          {"default", nullptr},
          {"description", "Reshapes a JSON body; null: the body passes untouched."}}},
        {"max_body_bytes",
         {{"type", "integer"},
          {"minimum", 1},
          {"maximum", 67108864},
          {"default", 1048576},
          {"description",
           "JSON bodies larger than this pass untouched (so do bodies that are not JSON)."}}}}}};

  json backend_timeout = timeout_ms;
  backend_timeout["type"] = {"integer", "null"};
  backend_timeout["default"] = nullptr;
  backend_timeout["description"] =
      "At most the aggregate's timeout_ms; null: the aggregate's timeout_ms.";
  json group = member_name;
  group["type"] = {"string", "null"};
  group["default"] = nullptr;
  group["description"] =
      "Unique among the backends: the answer goes under this member; null: shallow-merged into "
      "the top level, in the listed order.";
  s["AggregateBackend"] = {
      {"type", "object"},
      {"additionalProperties", false},
      {"required", {"service", "path"}},
      {"properties",
       {{"service",
         {{"type", "string"},
          {"description", "Service id or name on input; returned as the service id."}}},
        {"path",
         {{"type", "string"},
          {"pattern", "^/"},
          {"maxLength", 2048},
          {"examples", {"/users/{id}"}},
          {"description",
           "Origin-form target; {param} placeholders take the route's path parameters and "
           "must be parameters of every route path: whole segments in the path (filled in as "
           "received), anywhere in a query value (percent-encoded)."}}},
        {"method",
         {{"type", "string"},
          {"pattern", "^[A-Za-z]{1,20}$"},
          {"default", "GET"},
          {"description", "Stored upper case."}}},
        {"group", std::move(group)},
        {"required",
         {{"type", "boolean"},
          {"default", false},
          {"description", "A failure of this backend fails the whole answer (502/504)."}}},
        {"timeout_ms", std::move(backend_timeout)},
        {"json",
         {{"oneOf", {schemaRef("JsonShape"), {{"type", "null"}}}},
          {"default", nullptr},
          {"description", "Reshapes this backend's answer before the merge."}}}}}};

  json aggregate_timeout = timeout_ms;
  aggregate_timeout["description"] = "Bound on the whole fan-out.";
  s["Aggregate"] = {
      {"type", "object"},
      {"description",
       "Fans out to every backend in parallel and answers 200 with the merged JSON objects and "
       "X-Turnpike-Complete: true|false; a failed required backend, or all backends failing, "
       "makes the answer 502/504."},
      {"additionalProperties", false},
      {"required", {"backends"}},
      {"properties",
       {{"backends",
         {{"type", "array"},
          {"minItems", 1},
          {"maxItems", 16},
          {"items", schemaRef("AggregateBackend")},
          {"description", "Merged in this order."}}},
        {"timeout_ms", std::move(aggregate_timeout)}}}};
}

json schemas() {
  json s;

  s["Target"] = {
      {"type", "object"},
      {"additionalProperties", false},
      {"required", {"url"}},
      {"properties",
       {{"url",
         {{"type", "string"},
          {"format", "uri"},
          {"pattern", "^[Hh][Tt][Tt][Pp][Ss]?://"},
          {"examples", {"http://10.0.0.5:8080", "https://10.0.0.5:8443"}},
          {"description",
           "http://host[:port] (port 80) or https://host[:port] (port 443: TLS to the target "
           "with the service's tls settings); no path, query or userinfo. Stored lower case, "
           "without a trailing '/'. A target is a host and port: http://a:443 and https://a "
           "are the same one and cannot both be listed."}}},
        {"weight", integer(0, 1000, 100)}}}};
  s["Target"]["properties"]["weight"]["description"] = "0 takes the target out of rotation.";

  s["HealthCheck"] = {{"type", "object"},
                      {"additionalProperties", false},
                      {"properties",
                       {{"path", {{"type", "string"}, {"pattern", "^/"}, {"default", "/"}}},
                        {"interval_ms", {{"type", "integer"}, {"minimum", 100}, {"default", 5000}}},
                        {"unhealthy_after", {{"type", "integer"}, {"minimum", 1}, {"default", 3}}},
                        {"healthy_after", {{"type", "integer"}, {"minimum", 1}, {"default", 2}}}}}};

  s["ServiceTls"] = {
      {"type", "object"},
      {"description",
       "How Turnpike speaks TLS to the service's https:// targets. null: the defaults (verify "
       "against the system store, the target host as server name, no client certificate)."},
      {"additionalProperties", false},
      {"properties",
       {{"verify",
         {{"type", "boolean"},
          {"default", true},
          {"description", "Check the target's certificate chain and name."}}},
        {"ca",
         {{"type", {"string", "null"}},
          {"default", nullptr},
          {"maxLength", 262144},
          {"description",
           "PEM CA certificates to trust for the targets; null: the system store."}}},
        {"server_name",
         {{"type", {"string", "null"}},
          {"default", nullptr},
          {"examples", {"orders.internal"}},
          {"description",
           "DNS host name or IP address sent as SNI and checked against the target's "
           "certificate (stored lower case); null: the target's host."}}},
        {"client_certificate",
         {{"type", {"string", "null"}},
          {"default", nullptr},
          {"description",
           "A certificate (/certificates) presented to the targets, by id or name on input; "
           "returned as the certificate id. null: none. A certificate a service presents "
           "cannot be deleted (409)."}}}}}};

  {
    json p;
    addEntityFields(p);
    p["name"] = entityNameSchema();
    p["targets"] = {{"type", "array"}, {"minItems", 1}, {"items", schemaRef("Target")}};
    p["load_balancing"] = {{"type", "string"},
                           {"enum", {"round_robin", "least_connections", "consistent_hash"}},
                           {"default", "round_robin"}};
    p["hash_on"] = {{"type", {"string", "null"}},
                    {"pattern", "^(ip|consumer|header:.+)$"},
                    {"description", "consistent_hash only: ip | consumer | header:<name>."}};
    p["connect_timeout_ms"] = integer(1, 600000, 2000);
    p["read_timeout_ms"] = integer(1, 3600000, 30000);
    p["retries"] = integer(0, 10, 2);
    p["protocol"] = {
        {"type", "string"},
        {"enum", {"http1", "http2", "grpc"}},
        {"default", "http1"},
        {"description",
         "What the targets speak: HTTP/1.1, or HTTP/2 (prior knowledge on http://, ALPN on "
         "https://), for gRPC as well. This build refuses http2 and grpc (400 naming "
         "`protocol`): its proxy speaks only HTTP/1.1 to targets."}};
    p["idle_timeout_ms"] = integer(1, 86400000, 60000);
    p["idle_timeout_ms"]["description"] =
        "How long a WebSocket or other upgraded tunnel may carry no data either way, in "
        "milliseconds (at most a day).";
    p["health_check"] = {{"oneOf", {schemaRef("HealthCheck"), {{"type", "null"}}}}};
    p["tls"] = {{"oneOf", {schemaRef("ServiceTls"), {{"type", "null"}}}}, {"default", nullptr}};
    s["Service"] = {{"type", "object"},
                    {"description", "Where traffic goes."},
                    {"additionalProperties", false},
                    {"required", {"name", "targets"}},
                    {"properties", p}};
  }

  s["RouteAuth"] = {
      {"type", "object"},
      {"additionalProperties", false},
      {"properties",
       {{"type", {{"type", "string"}, {"enum", {"none", "api_key"}}, {"default", "none"}}},
        {"key_names",
         {{"type", "array"},
          {"items", {{"type", "string"}}},
          {"minItems", 1},
          {"default", {"apikey"}},
          {"description", "Header or query parameter names to read the key from."}}},
        {"hide_credentials", {{"type", "boolean"}, {"default", false}}}}}};

  addRouteTransformSchemas(s);

  {
    json p;
    addEntityFields(p);
    p["name"] = entityNameSchema();
    p["name"]["type"] = {"string", "null"};
    p["name"]["description"] = "Optional; unique when given.";
    p["service"] = {
        {"type", {"string", "null"}},
        {"description",
         "Service id or name on input; returned as the service id. Required unless `aggregate` "
         "is set; an aggregate route has no service (absent or null on input, null when "
         "returned)."}};
    p["hosts"] = stringArray("\"api.example.com\" or \"*.example.org\", optional \":port\".");
    p["paths"] = stringArray(
        "Prefix match; {param} segments match by segment; a leading ~ makes an RE2 regex "
        "anchored at the start.");
    p["methods"] = stringArray("Upper-case HTTP methods.");
    p["headers"] = {{"type", "object"},
                    {"additionalProperties", stringArray()},
                    {"description", "Header name -> accepted values."}};
    p["strip_path"] = {{"type", "boolean"}, {"default", true}};
    p["preserve_host"] = {{"type", "boolean"}, {"default", false}};
    p["protocols"] = {
        {"type", "array"},
        {"items", {{"type", "string"}, {"enum", {"http", "https"}}}},
        {"minItems", 1},
        {"uniqueItems", true},
        {"default", {"http", "https"}},
        {"description",
         "Which listeners serve the route. Without \"http\", a plain request is answered 308 "
         "with the same URL on the TLS listener."}};
    p["priority"] = {{"type", "integer"}, {"default", 0}};
    p["auth"] = schemaRef("RouteAuth");
    p["allow_groups"] = stringArray("Empty: any authenticated consumer.");
    p["rate_limit_policies"] = stringArray("Policy ids or names on input; returned as ids.");
    p["request_transform"] = {
        {"oneOf", {schemaRef("RequestTransform"), {{"type", "null"}}}},
        {"description",
         "Optional; returned only when set. On an aggregate route only set_headers applies (to "
         "every backend request)."}};
    p["response_transform"] = {{"oneOf", {schemaRef("ResponseTransform"), {{"type", "null"}}}},
                               {"description", "Optional; returned only when set."}};
    p["aggregate"] = {
        {"oneOf", {schemaRef("Aggregate"), {{"type", "null"}}}},
        {"description",
         "Optional; returned only when set. The route then has no `service`: it fans out to "
         "every backend in parallel and merges their JSON objects."}};
    // The service rule of parseRoute: required without an aggregate, absent (or null) with one.
    const json has_aggregate = {{"required", {"aggregate"}},
                                {"properties", {{"aggregate", {{"type", "object"}}}}}};
    s["Route"] = {
        {"type", "object"},
        {"description",
         "Which requests go where. At least one of hosts, paths, methods is required. "
         "`service` is required unless `aggregate` is set, and must then be absent or "
         "null."},
        {"additionalProperties", false},
        {"properties", p},
        {"if", has_aggregate},
        {"then", {{"properties", {{"service", {{"type", "null"}}}}}}},
        {"else", {{"required", {"service"}}, {"properties", {{"service", {{"type", "string"}}}}}}}};
  }

  {
    json p;
    addEntityFields(p);
    p["username"] = entityNameSchema(/*allow_at=*/true);
    p["custom_id"] = {{"type", {"string", "null"}}, {"maxLength", 256}};
    p["groups"] = stringArray("ACL groups, matched against a route's allow_groups.");
    p["rate_limit_policies"] = stringArray("Policy ids or names on input; returned as ids.");
    s["Consumer"] = {{"type", "object"},
                     {"description", "Who calls."},
                     {"additionalProperties", false},
                     {"required", {"username"}},
                     {"properties", p}};
  }

  {
    json p;
    addEntityFields(p);
    p["name"] = entityNameSchema();
    p["limit"] = {{"type", "integer"}, {"minimum", 1}};
    p["window_s"] = integer(1, 86400, 60);
    p["algorithm"] = {{"type", "string"},
                      {"enum", {"sliding_window", "fixed_window", "token_bucket"}},
                      {"default", "sliding_window"}};
    p["burst"] = {{"type", "integer"}, {"minimum", 0}, {"default", 0}};
    p["key_by"] = {{"type", "string"},
                   {"pattern", "^(consumer|api_key|ip|route|header:.+)$"},
                   {"default", "consumer"}};
    s["RateLimitPolicy"] = {{"type", "object"},
                            {"additionalProperties", false},
                            {"required", {"name", "limit"}},
                            {"properties", p}};
  }

  {
    json p;
    addEntityFields(p);
    p["name"] = entityNameSchema();
    p["cert"] = {{"type", "string"},
                 {"maxLength", 65536},
                 {"pattern", "-----BEGIN CERTIFICATE-----"},
                 {"description", "PEM: the leaf certificate first, then its chain."}};
    p["key"] = {{"type", "string"},
                {"writeOnly", true},
                {"maxLength", 16384},
                {"description",
                 "PEM private key of the leaf (PKCS#8 or traditional, no passphrase; RSA of at "
                 "least 2048 bits, EC or EdDSA). Never returned. Required on create; a write "
                 "without key or key_encrypted keeps the stored key, which must match cert."}};
    p["key_encrypted"] = {
        {"type", "string"},
        {"pattern", "^v1:[0-9a-f]{16}:[A-Za-z0-9+/]+={0,2}$"},
        {"description",
         "The key sealed by the server's keyring (AES-256-GCM, the certificate id as associated "
         "data): what GET /config exports and the history records, never in /certificates "
         "answers. Accepted instead of key when it opens under this server's keyring for this "
         "certificate id."}};
    p["snis"] = {
        {"type", "array"},
        {"maxItems", 100},
        {"uniqueItems", true},
        {"items", {{"type", "string"}, {"examples", {"api.example.com", "*.example.org"}}}},
        {"description",
         "Server names (lower case) this certificate is chosen for; a wildcard covers one "
         "leftmost label. Unique across certificates (409). Required unless default."}};
    p["default"] = {{"type", "boolean"},
                    {"default", false},
                    {"description", "Served when no SNI matches; one certificate at most (409)."}};
    p["client_verify"] = {
        {"type", "string"}, {"enum", {"off", "optional", "required"}}, {"default", "off"}};
    p["client_ca"] = {
        {"type", {"string", "null"}},
        {"description", "PEM CA certificates; required unless client_verify is off."}};
    for (const char* name : {"subject", "issuer"}) {
      p[name] = {{"type", "string"},
                 {"readOnly", true},
                 {"description", "Of the leaf, RFC 2253 (\"CN=api.example.com\")."}};
    }
    for (const char* name : {"not_before", "not_after"}) {
      p[name] = {
          {"type", "integer"}, {"readOnly", true}, {"description", "Of the leaf, Unix seconds."}};
    }
    p["key_type"] = {
        {"type", "string"}, {"readOnly", true}, {"examples", {"EC P-256", "RSA 2048", "Ed25519"}}};
    p["fingerprint_sha256"] = {{"type", "string"},
                               {"readOnly", true},
                               {"pattern", "^[0-9a-f]{64}$"},
                               {"description", "SHA-256 of the leaf's DER, lower-case hex."}};
    s["Certificate"] = {{"type", "object"},
                        {"description", "What the TLS listener presents, chosen by SNI."},
                        {"additionalProperties", false},
                        {"required", {"name", "cert"}},
                        {"properties", p}};
  }

  json key_fields = {
      {"id", {{"type", "string"}, {"format", "uuid"}}},
      {"consumer", {{"type", "string"}, {"format", "uuid"}, {"description", "Consumer id."}}},
      {"prefix",
       {{"type", "string"},
        {"examples", {"tpk_AbC1"}},
        {"description", "The key's first 8 characters, for display."}}},
      {"expires_at",
       {{"type", {"integer", "null"}}, {"description", "Unix seconds; null = never."}}},
      {"created_at", {{"type", "integer"}}},
      {"tags", stringArray()}};
  s["ApiKey"] = {{"type", "object"},
                 {"description", "An API key as listed: never the key itself."},
                 {"properties", key_fields}};
  json created_fields = key_fields;
  created_fields["key"] = {
      {"type", "string"},
      {"description", "The key. Shown in this response only; the store keeps its SHA-256."}};
  s["ApiKeyCreated"] = {{"type", "object"},
                        {"required", {"id", "key", "prefix", "created_at"}},
                        {"properties", created_fields}};
  json exported_fields = key_fields;
  exported_fields["key_hash"] = {
      {"type", "string"}, {"pattern", "^[0-9a-f]{64}$"}, {"description", "SHA-256 (hex)."}};
  s["ExportedApiKey"] = {{"type", "object"},
                         {"description", "An API key in a configuration export: hash only."},
                         {"required", {"consumer", "key_hash"}},
                         {"properties", exported_fields}};
  s["NewApiKey"] = {
      {"type", "object"},
      {"additionalProperties", false},
      {"properties",
       {{"id", {{"type", "string"}, {"format", "uuid"}}},
        {"key",
         {{"type", "string"},
          {"minLength", 20},
          {"description",
           "Optional caller-supplied key (for migrations from another gateway); printable, "
           "no spaces. When absent the server makes one (\"tpk_...\")."}}},
        {"expires_at", {{"type", {"integer", "null"}}}},
        {"tags", stringArray()}}}};

  s["Config"] = {
      {"type", "object"},
      {"description",
       "The whole configuration; API keys as hashes only, certificate keys sealed only."},
      {"properties",
       {{"version", {{"type", "integer"}, {"description", "Config version (ignored on import)."}}},
        {"services", {{"type", "array"}, {"items", schemaRef("Service")}}},
        {"routes", {{"type", "array"}, {"items", schemaRef("Route")}}},
        {"consumers", {{"type", "array"}, {"items", schemaRef("Consumer")}}},
        {"api_keys", {{"type", "array"}, {"items", schemaRef("ExportedApiKey")}}},
        {"rate_limit_policies", {{"type", "array"}, {"items", schemaRef("RateLimitPolicy")}}},
        {"certificates",
         {{"type", "array"},
          {"items", schemaRef("Certificate")},
          {"description", "Keys as key_encrypted only."}}}}}};

  s["Change"] = {
      {"type", "object"},
      {"properties",
       {{"entity_type",
         {{"type", "string"},
          {"enum",
           {"service", "route", "consumer", "api_key", "rate_limit_policy", "certificate"}}}},
        {"entity_id", {{"type", "string"}}},
        {"action", {{"type", "string"}, {"enum", {"create", "update", "delete"}}}},
        {"before", {{"description", "The entity before (null when created)."}}},
        {"after", {{"description", "The entity after (null when deleted)."}}}}}};
  s["ConfigChanges"] = {
      {"type", "object"},
      {"description", "The result (or, with dry_run, the preview) of replacing the configuration."},
      {"properties",
       {{"version", {{"type", "integer"}}},
        {"dry_run", {{"type", "boolean"}}},
        {"changes", {{"type", "array"}, {"items", schemaRef("Change")}}}}}};

  s["HistoryEntry"] = {
      {"type", "object"},
      {"properties",
       {{"version", {{"type", "integer"}}},
        {"at", {{"type", "integer"}, {"description", "Unix seconds."}}},
        {"actor", {{"type", "string"}}},
        {"action",
         {{"type", "string"}, {"enum", {"create", "update", "delete", "import", "restore"}}}},
        {"summary", {{"type", "string"}}},
        {"changes",
         {{"type", "array"},
          {"items", schemaRef("Change")},
          {"description", "Only in GET /config/history/{version}."}}}}}};

  s["Problem"] = {
      {"type", "object"},
      {"description", "RFC 9457 problem details."},
      {"required", {"type", "title", "status", "detail"}},
      {"properties",
       {{"type", {{"type", "string"}}},
        {"title", {{"type", "string"}}},
        {"status", {{"type", "integer"}}},
        {"detail", {{"type", "string"}}},
        {"errors",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"required", {"field", "message"}},
            {"properties",
             {{"field",
               {{"type", "string"},
                {"examples", {"paths[0]", "targets[1].url"}},
                {"description", "The field as the client wrote it; empty for the document."}}},
              {"message", {{"type", "string"}}}}}}}}}}}};

  s["Health"] = {{"type", "object"},
                 {"properties", {{"status", {{"type", "string"}, {"const", "ok"}}}}}};
  s["CertificateStatus"] = {
      {"type", "object"},
      {"properties",
       {{"id", {{"type", "string"}, {"format", "uuid"}}},
        {"name", {{"type", "string"}}},
        {"snis", stringArray()},
        {"not_after", {{"type", "integer"}, {"description", "Unix seconds."}}},
        {"expires_in_s",
         {{"type", "integer"}, {"description", "Seconds until not_after; negative: expired."}}}}}};
  s["WorkerVersion"] = {{"type", "object"},
                        {"required", {"worker", "version"}},
                        {"properties",
                         {{"worker", {{"type", "string"}, {"examples", {"worker-0"}}}},
                          {"version", {{"type", "integer"}}}}}};
  s["SnapshotBuild"] = {
      {"type", "object"},
      {"description",
       "How the stored configuration last reached the proxy. A failed build is never published: "
       "the proxy keeps serving `version` and `error` says why; the next good build clears it."},
      {"properties",
       {{"version", {{"type", "integer"}, {"description", "Version of the published snapshot."}}},
        {"duration_ms", {{"type", {"number", "null"}}, {"description", "Its load + build time."}}},
        {"at",
         {{"type", {"number", "null"}},
          {"description", "Unix seconds (fractional) when it was published."}}},
        {"error", {{"type", {"string", "null"}}, {"description", "The latest failed build."}}},
        {"error_version",
         {{"type", {"integer", "null"}}, {"description", "The version that failed to build."}}},
        {"builds", {{"type", "integer"}, {"description", "Builds attempted since start."}}}}}};
  s["RouteMatchExplanation"] = {
      {"type", "object"},
      {"properties",
       {{"version",
         {{"type", "integer"}, {"description", "The config version of the snapshot explained."}}},
        {"request",
         {{"type", "object"},
          {"description", "The request explained: method, host, path, query, headers."}}},
        {"matched",
         {{"type", {"object", "null"}},
          {"description", "The route that serves the request; null: the proxy answers 404."},
          {"properties",
           {{"route", schemaRef("EntityRef")},
            {"service",
             {{"oneOf", {schemaRef("EntityRef"), {{"type", "null"}}}},
              {"description", "null for an aggregate route."}}},
            {"path",
             {{"type", {"string", "null"}},
              {"description", "The route path that matched; null for a path-less route."}}},
            {"host_match", {{"type", "string"}, {"enum", {"exact", "wildcard", "any"}}}},
            {"path_match",
             {{"type", "string"}, {"enum", {"exact", "template", "prefix", "regex", "any"}}}},
            {"params",
             {{"type", "object"},
              {"additionalProperties", {{"type", "string"}}},
              {"description", "{param} values and named regex groups, raw."}}},
            {"upstream_target",
             {{"type", "string"},
              {"description", "The target sent upstream (strip_path applied)."}}},
            {"policies",
             {{"type", "object"},
              {"properties",
               {{"auth", {{"type", "string"}, {"enum", {"none", "api_key"}}}},
                {"allow_groups", stringArray()},
                {"rate_limit_policies",
                 {{"type", "array"}, {"items", schemaRef("EntityRef")}}}}}}}}}}},
        {"routes",
         {{"type", "array"},
          {"description", "Every route, in precedence order, with why it did or did not match."},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"id", {{"type", "string"}}},
              {"name", {{"type", {"string", "null"}}}},
              {"verdict",
               {{"type", "string"},
                {"enum",
                 {"selected", "lost_on_precedence", "host_mismatch", "path_mismatch",
                  "method_mismatch", "header_mismatch"}}}},
              {"detail", {{"type", "string"}}},
              {"lost_to",
               {{"type", {"string", "null"}},
                {"description", "lost_on_precedence: the id of the route that wins."}}}}}}}}}}}};
  s["EntityRef"] = {
      {"type", "object"},
      {"properties", {{"id", {{"type", "string"}}}, {"name", {{"type", {"string", "null"}}}}}}};
  s["Status"] = {
      {"type", "object"},
      {"properties",
       {{"config_version", {{"type", "integer"}, {"description", "The stored version."}}},
        {"proxy",
         {{"type", "object"},
          {"properties",
           {{"workers",
             {{"type", "array"},
              {"items", schemaRef("WorkerVersion")},
              {"description", "The version each proxy worker serves; empty without a proxy."}}},
            {"served_version",
             {{"type", {"integer", "null"}},
              {"description", "The lowest version any worker serves; null without workers."}}},
            {"in_sync",
             {{"type", "boolean"},
              {"description",
               "Every worker serves the stored config_version (or a newer one); true without "
               "workers."}}},
            {"last_build",
             {{"oneOf", {schemaRef("SnapshotBuild"), {{"type", "null"}}}},
              {"description", "The last snapshot build; null without a proxy."}}}}}}},
        {"counts",
         {{"type", "object"},
          {"properties",
           {{"services", {{"type", "integer"}}},
            {"routes", {{"type", "integer"}}},
            {"consumers", {{"type", "integer"}}},
            {"api_keys", {{"type", "integer"}}},
            {"rate_limit_policies", {{"type", "integer"}}},
            {"certificates", {{"type", "integer"}}}}}}},
        {"certificates",
         {{"type", "array"},
          {"items", schemaRef("CertificateStatus")},
          {"description", "Every certificate and when it expires."}}},
        {"warnings",
         {{"type", "array"},
          {"items", {{"type", "string"}}},
          {"description",
           "One sentence for each certificate that expired or expires within 30 days."}}},
        {"uptime_s", {{"type", "integer"}}},
        {"version", {{"type", "string"}, {"description", "Turnpike's version."}}}}}};

  auto list_of = [](const std::string& item) {
    return json{{"type", "object"},
                {"required", {"data", "next"}},
                {"properties",
                 {{"data", {{"type", "array"}, {"items", schemaRef(item)}}},
                  {"next",
                   {{"type", {"string", "null"}},
                    {"description", "Cursor for ?after= of the next page; null at the end."}}}}}};
  };
  for (const char* item : {"Service", "Route", "Consumer", "RateLimitPolicy", "Certificate",
                           "ApiKey", "HistoryEntry"}) {
    s[std::string(item) + "List"] = list_of(item);
  }
  return s;
}

json parameters() {
  json p;
  p["IdOrName"] = {{"name", "id_or_name"},
                   {"in", "path"},
                   {"required", true},
                   {"description", "The entity's id or its unique name (username for consumers)."},
                   {"schema", {{"type", "string"}}}};
  p["Consumer"] = {{"name", "consumer"},
                   {"in", "path"},
                   {"required", true},
                   {"description", "The consumer's id or username."},
                   {"schema", {{"type", "string"}}}};
  p["KeyId"] = {{"name", "key_id"},
                {"in", "path"},
                {"required", true},
                {"schema", {{"type", "string"}, {"format", "uuid"}}}};
  p["Version"] = {{"name", "version"},
                  {"in", "path"},
                  {"required", true},
                  {"schema", {{"type", "integer"}, {"minimum", 1}}}};
  p["Size"] = {{"name", "size"},
               {"in", "query"},
               {"description", "Page size."},
               {"schema", integer(1, 1000, 100)}};
  p["After"] = {{"name", "after"},
                {"in", "query"},
                {"description", "The opaque cursor from a previous page's `next`."},
                {"schema", {{"type", "string"}}}};
  p["Tags"] = {{"name", "tags"},
               {"in", "query"},
               {"description", "Comma-separated; an entity must carry all of them."},
               {"style", "form"},
               {"explode", false},
               {"schema", stringArray()}};
  p["IfMatch"] = {{"name", "If-Match"},
                  {"in", "header"},
                  {"description",
                   "The entity's ETag (or *: only if it exists); the write fails with 412 when "
                   "it does not match."},
                  {"schema", {{"type", "string"}}}};
  p["WaitForProxy"] = {
      {"name", "wait_for_proxy"},
      {"in", "query"},
      {"description",
       "Answer only once every proxy worker serves the written version (read-your-writes); 504 "
       "when that takes longer than wait_timeout_ms. The change is stored either way."},
      {"schema", {{"type", "boolean"}, {"default", false}}}};
  p["WaitTimeoutMs"] = {{"name", "wait_timeout_ms"},
                        {"in", "query"},
                        {"description", "How long wait_for_proxy waits, in milliseconds."},
                        {"schema", integer(1, 60000, 5000)}};
  p["DryRun"] = {{"name", "dry_run"},
                 {"in", "query"},
                 {"description", "Return the changes without applying them."},
                 {"schema", {{"type", "boolean"}, {"default", false}}}};
  return p;
}

json headers() {
  json h;
  h["ETag"] = {{"description", "Entity tag of the returned entity, for If-Match."},
               {"schema", {{"type", "string"}}}};
  h["Location"] = {{"description", "URL of the created entity."}, {"schema", {{"type", "string"}}}};
  h["XConfigVersion"] = {{"description", "The configuration version after this write."},
                         {"schema", {{"type", "integer"}}}};
  h["CacheControl"] = {{"description", "no-store: the response holds a secret."},
                       {"schema", {{"type", "string"}, {"const", "no-store"}}}};
  return h;
}

json problemResponse(const std::string& description) {
  return {{"description", description},
          {"content", {{"application/problem+json", {{"schema", schemaRef("Problem")}}}}}};
}

json responses() {
  json r;
  r["BadRequest"] = problemResponse(
      "Bad JSON, unknown field, failed validation or a missing reference; `errors` names the "
      "fields.");
  r["Unauthorized"] = problemResponse("Missing or wrong admin token.");
  r["NotFound"] = problemResponse("No such entity.");
  r["Conflict"] = problemResponse("Duplicate name or id.");
  r["PreconditionFailed"] = problemResponse("If-Match did not match the current entity.");
  r["PayloadTooLarge"] = problemResponse("Request body over 1 MiB.");
  {
    json timeout = problemResponse(
        "wait_for_proxy: the change is stored (X-Config-Version) but the proxy did not serve it "
        "within wait_timeout_ms.");
    timeout["headers"]["X-Config-Version"] = headerRef("XConfigVersion");
    r["ProxyTimeout"] = std::move(timeout);
  }
  return r;
}

// A 2xx response with a JSON body and the given header refs.
json okResponse(const std::string& description, const json& schema,
                std::initializer_list<std::pair<const char*, const char*>> hdrs = {}) {
  json r = {{"description", description}, {"content", jsonContent(schema)}};
  for (const auto& [name, component] : hdrs) r["headers"][name] = headerRef(component);
  return r;
}

// References to the shared error responses, by status.
json errorRefs(std::initializer_list<int> statuses) {
  static const std::map<int, const char*> kResponses = {
      {400, "BadRequest"},  {401, "Unauthorized"},       {404, "NotFound"},
      {409, "Conflict"},    {412, "PreconditionFailed"}, {413, "PayloadTooLarge"},
      {504, "ProxyTimeout"}};
  json r = json::object();
  for (int status : statuses) r[std::to_string(status)] = responseRef(kResponses.at(status));
  return r;
}

json operation(const std::string& id, const std::string& summary, const std::string& tag,
               json responses_ok, json errors, json params = json::array()) {
  json op = {{"operationId", id}, {"summary", summary}, {"tags", {tag}}};
  if (!params.empty()) op["parameters"] = std::move(params);
  json all = std::move(responses_ok);
  all.update(errors);
  op["responses"] = std::move(all);
  return op;
}

json requestBody(const std::string& schema, const std::string& media = "application/json") {
  return {{"required", true}, {"content", {{media, {{"schema", schemaRef(schema)}}}}}};
}

struct Collection {
  const char* path;     // "/services"
  const char* schema;   // "Service"
  const char* noun;     // "service"
  const char* op_name;  // "Service" in operation ids
  const char* tag;
};

void addCollection(json& paths, const Collection& c) {
  const std::string noun = c.noun;
  const std::string op = c.op_name;
  const json entity = schemaRef(c.schema);
  json& list = paths[c.path];
  list["get"] = operation(
      "list" + op + "s", "List " + noun + "s", c.tag,
      {{"200", okResponse("A page of " + noun + "s.", schemaRef(std::string(c.schema) + "List"))}},
      errorRefs({400, 401}), {paramRef("Size"), paramRef("After"), paramRef("Tags")});
  list["post"] = operation("create" + op, "Create a " + noun, c.tag,
                           {{"201", okResponse("Created.", entity,
                                               {{"Location", "Location"},
                                                {"ETag", "ETag"},
                                                {"X-Config-Version", "XConfigVersion"}})}},
                           errorRefs({400, 401, 409, 413}));
  list["post"]["requestBody"] = requestBody(c.schema);

  json& one = paths[std::string(c.path) + "/{id_or_name}"];
  one["parameters"] = {paramRef("IdOrName")};
  one["get"] = operation("get" + op, "Get a " + noun + " by id or name", c.tag,
                         {{"200", okResponse("The " + noun + ".", entity, {{"ETag", "ETag"}})}},
                         errorRefs({401, 404}));
  one["put"] = operation(
      "put" + op, "Replace a " + noun + " (creates it when absent)", c.tag,
      {{"200", okResponse("Replaced.", entity,
                          {{"ETag", "ETag"}, {"X-Config-Version", "XConfigVersion"}})},
       {"201",
        okResponse(
            "Created.", entity,
            {{"Location", "Location"}, {"ETag", "ETag"}, {"X-Config-Version", "XConfigVersion"}})}},
      errorRefs({400, 401, 409, 412, 413}), {paramRef("IfMatch")});
  one["put"]["requestBody"] = requestBody(c.schema);
  one["patch"] =
      operation("patch" + op, "Change a " + noun + " with a JSON merge patch (RFC 7396)", c.tag,
                {{"200", okResponse("Changed.", entity,
                                    {{"ETag", "ETag"}, {"X-Config-Version", "XConfigVersion"}})}},
                errorRefs({400, 401, 404, 409, 412, 413}), {paramRef("IfMatch")});
  one["patch"]["requestBody"] = {
      {"required", true},
      {"description",
       "null removes a field (or resets it to its default); objects merge; "
       "arrays replace."},
      {"content",
       {{"application/merge-patch+json", {{"schema", {{"type", "object"}}}}},
        {"application/json", {{"schema", {{"type", "object"}}}}}}}};
  one["delete"] = operation("delete" + op, "Delete a " + noun, c.tag,
                            {{"204",
                              {{"description", "Deleted."},
                               {"headers", {{"X-Config-Version", headerRef("XConfigVersion")}}}}}},
                            errorRefs({400, 401, 404, 412}), {paramRef("IfMatch")});
}

json paths() {
  json p = json::object();
  addCollection(p, {"/services", "Service", "service", "Service", "services"});
  addCollection(p, {"/routes", "Route", "route", "Route", "routes"});
  addCollection(p, {"/consumers", "Consumer", "consumer", "Consumer", "consumers"});
  addCollection(p, {"/rate-limit-policies", "RateLimitPolicy", "rate-limit policy",
                    "RateLimitPolicy", "rate-limit-policies"});
  addCollection(p, {"/certificates", "Certificate", "certificate", "Certificate", "certificates"});
  p["/certificates/{id_or_name}"]["delete"]["responses"]["409"] = problemResponse(
      "The certificate is a service's tls.client_certificate; `detail` names the "
      "services.");
  // "policys" reads badly in operation ids.
  p["/rate-limit-policies"]["get"]["operationId"] = "listRateLimitPolicies";
  p["/rate-limit-policies"]["get"]["summary"] = "List rate-limit policies";
  p["/rate-limit-policies"]["get"]["responses"]["200"]["description"] =
      "A page of rate-limit policies.";

  p["/routes/{id_or_name}"]["get"]["description"] =
      "A route named \"match\" is read by its id: GET /routes/match explains a request. Its other "
      "operations (PUT, PATCH, DELETE /routes/match) address the route.";
  json match = operation(
      "explainRouteMatch", "Explain which route would serve a request, and why no other", "routes",
      {{"200", okResponse("The explanation, from the snapshot the proxy serves.",
                          schemaRef("RouteMatchExplanation"))}},
      errorRefs({400, 401}),
      {{{"name", "method"},
        {"in", "query"},
        {"schema", {{"type", "string"}, {"default", "GET"}}},
        {"description", "The request method (compared exactly, like the proxy does)."}},
       {{"name", "host"},
        {"in", "query"},
        {"schema", {{"type", "string"}}},
        {"description", "The Host header, port included when sent; absent: none."}},
       {{"name", "path"},
        {"in", "query"},
        {"required", true},
        {"schema", {{"type", "string"}, {"pattern", "^/"}}},
        {"examples", {{"plain", {{"value", "/orders/7"}}}, {"query", {{"value", "/orders?a=1"}}}}},
        {"description",
         "The request target; a \"?query\" part is split off (URL-encode the '?')."}},
       {{"name", "header.{name}"},
        {"in", "query"},
        {"schema", {{"type", "string"}}},
        {"description",
         "Request headers, one parameter each: header.x-version=2 (repeat with other names)."}}});
  match["description"] =
      "Runs the router's reference matcher over every route: `matched` is what the proxy would "
      "do (null: 404), `routes` says for each route whether its host, path, method and headers "
      "matched and, for a route that matched but lost, which route won (`lost_to`).";
  p["/routes/match"]["get"] = std::move(match);

  json& keys = p["/consumers/{consumer}/keys"];
  keys["parameters"] = {paramRef("Consumer")};
  keys["get"] = operation("listApiKeys", "List a consumer's API keys (never the keys)", "keys",
                          {{"200", okResponse("A page of keys.", schemaRef("ApiKeyList"))}},
                          errorRefs({400, 401, 404}),
                          {paramRef("Size"), paramRef("After"), paramRef("Tags")});
  keys["post"] =
      operation("createApiKey", "Create an API key; the key is shown in this response only", "keys",
                {{"201", okResponse("Created.", schemaRef("ApiKeyCreated"),
                                    {{"Location", "Location"},
                                     {"ETag", "ETag"},
                                     {"Cache-Control", "CacheControl"},
                                     {"X-Config-Version", "XConfigVersion"}})}},
                errorRefs({400, 401, 404, 409, 413}));
  keys["post"]["requestBody"] = {
      {"required", false},
      {"content", {{"application/json", {{"schema", schemaRef("NewApiKey")}}}}}};

  json& key = p["/consumers/{consumer}/keys/{key_id}"];
  key["parameters"] = {paramRef("Consumer"), paramRef("KeyId")};
  key["get"] = operation(
      "getApiKey", "Get an API key's metadata", "keys",
      {{"200", okResponse("The key (without the key).", schemaRef("ApiKey"), {{"ETag", "ETag"}})}},
      errorRefs({401, 404}));
  key["delete"] = operation("deleteApiKey", "Revoke an API key at once", "keys",
                            {{"204",
                              {{"description", "Revoked."},
                               {"headers", {{"X-Config-Version", headerRef("XConfigVersion")}}}}}},
                            errorRefs({401, 404, 412}), {paramRef("IfMatch")});

  p["/health"]["get"] =
      operation("health", "Liveness (no authentication)", "operations",
                {{"200", okResponse("Alive.", schemaRef("Health"))}}, json::object());
  p["/health"]["get"]["security"] = json::array();
  p["/status"]["get"] = operation(
      "status", "Stored and served config versions, counts, uptime, last snapshot build",
      "operations",
      {{"200",
        okResponse("Status.", schemaRef("Status"), {{"X-Config-Version", "XConfigVersion"}})}},
      errorRefs({401}));

  json& config = p["/config"];
  config["get"] =
      operation("exportConfig", "Export the whole configuration", "config",
                {{"200", okResponse("The configuration (API keys as hashes).", schemaRef("Config"),
                                    {{"X-Config-Version", "XConfigVersion"}})}},
                errorRefs({401}));
  config["put"] = operation(
      "importConfig", "Replace the whole configuration atomically", "config",
      {{"200", okResponse("Applied (or, with dry_run, the changes it would make).",
                          schemaRef("ConfigChanges"), {{"X-Config-Version", "XConfigVersion"}})}},
      errorRefs({400, 401, 409, 413}), {paramRef("DryRun")});
  config["put"]["requestBody"] = requestBody("Config");

  p["/config/history"]["get"] =
      operation("listHistory", "Configuration versions, newest first", "config",
                {{"200", okResponse("A page of history entries.", schemaRef("HistoryEntryList"))}},
                errorRefs({400, 401}), {paramRef("Size"), paramRef("After")});
  json& version = p["/config/history/{version}"];
  version["parameters"] = {paramRef("Version")};
  version["get"] =
      operation("getHistoryEntry", "One version's change (before/after of each entity)", "config",
                {{"200", okResponse("The entry with its changes.", schemaRef("HistoryEntry"))}},
                errorRefs({400, 401, 404}));
  json& restore = p["/config/history/{version}/restore"];
  restore["parameters"] = {paramRef("Version")};
  restore["post"] =
      operation("restoreVersion",
                "Roll the whole configuration back to a version, as a new version", "config",
                {{"200", okResponse("Restored.", schemaRef("ConfigChanges"),
                                    {{"X-Config-Version", "XConfigVersion"}})}},
                errorRefs({400, 401, 404}), {paramRef("DryRun")});

  p["/openapi.json"]["get"] = operation(
      "openApi", "This document", "operations",
      {{"200", okResponse("OpenAPI 3.1 document.", {{"type", "object"}})}}, errorRefs({401}));
  p["/metrics"]["get"] =
      operation("metrics", "Prometheus metrics", "operations",
                {{"200",
                  {{"description", "Prometheus text exposition format."},
                   {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}}}},
                errorRefs({401}));
  // Every write may wait for the proxy (?wait_for_proxy=true): the same rule as the dispatcher.
  for (auto& [path, item] : p.items()) {
    for (const char* method : {"post", "put", "patch", "delete"}) {
      if (!item.contains(method)) continue;
      json& op = item[method];
      if (!op.contains("parameters")) op["parameters"] = json::array();
      op["parameters"].push_back(paramRef("WaitForProxy"));
      op["parameters"].push_back(paramRef("WaitTimeoutMs"));
      op["responses"]["504"] = responseRef("ProxyTimeout");
    }
  }
  return p;
}

json buildDocument() {
  return {
      {"openapi", "3.1.0"},
      {"info",
       {{"title", "Turnpike admin API"},
        {"version", "0.1.0"},
        {"description",
         "Configure the Turnpike API gateway at run time: services, routes, consumers, API keys, "
         "rate-limit policies and TLS certificates. Every write is stored and versioned; errors "
         "are RFC 9457 "
         "problem+json."}}},
      {"servers", {{{"url", "http://127.0.0.1:8001"}, {"description", "Default admin listener"}}}},
      {"security", {{{"bearer", json::array()}}}},
      {"tags",
       {{{"name", "services"}},
        {{"name", "routes"}},
        {{"name", "consumers"}},
        {{"name", "keys"}},
        {{"name", "rate-limit-policies"}},
        {{"name", "certificates"}},
        {{"name", "config"}},
        {{"name", "operations"}}}},
      {"paths", paths()},
      {"components",
       {{"securitySchemes",
         {{"bearer",
           {{"type", "http"},
            {"scheme", "bearer"},
            {"description",
             "The admin token (TURNPIKE_ADMIN_TOKEN, or printed at first start)."}}}}},
        {"schemas", schemas()},
        {"parameters", parameters()},
        {"headers", headers()},
        {"responses", responses()}}}};
}

}  // namespace

const nlohmann::json& openApiDocument() {
  static const nlohmann::json document = buildDocument();
  return document;
}

}  // namespace turnpike::admin
