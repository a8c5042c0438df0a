// The OpenAPI 3.1 description of the admin API, served at GET /openapi.json.
#pragma once

#include <nlohmann/json.hpp>

namespace turnpike::admin {

// The whole document. Every route in AdminApi::routes() has an operation here (a test checks).
const nlohmann::json& openApiDocument();

}  // namespace turnpike::admin
