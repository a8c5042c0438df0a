// Identifiers, names and entity tags shared by every entity.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace turnpike::model {

// A random (v4) UUID, lower case, from OpenSSL RAND_bytes.
std::string newUuid();

// True for a canonical lower- or upper-case 8-4-4-4-12 hex UUID.
bool isUuid(std::string_view text);

// Names of services, routes and policies: 1..128 of [A-Za-z0-9._~-], and not a UUID (so that
// /things/{id-or-name} is unambiguous). Consumers' usernames may also hold '@'.
bool isValidName(std::string_view name, bool allow_at = false);

// Entity tag of an entity's API form: a quoted hex digest of its canonical JSON text. Equal
// JSON gives equal tags; any change gives a different one.
std::string etagOf(const nlohmann::json& entity);

}  // namespace turnpike::model
