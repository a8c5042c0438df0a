// RFC 9457 problem+json responses for the admin API.
#pragma once

#include <string>

#include "admin/http_message.h"
#include "model/result.h"

namespace turnpike::admin {

// {"type","title","status","detail"} (+ "errors": [{"field","message"}] when there are field
// errors), Content-Type application/problem+json.
HttpResponse problem(int status, std::string detail, const model::FieldErrors& fields = {});

// Maps an Error's code to its status (kInvalid 400, kNotFound 404, kConflict 409,
// kPreconditionFailed 412, kTooLarge 413, kInternal 500) and builds the problem.
HttpResponse problem(const model::Error& error);

}  // namespace turnpike::admin
