// Handlers for the gateway's own state: /health, /status, /metrics and /openapi.json.
#pragma once

#include "admin/handler_support.h"

namespace turnpike::admin {

HttpResponse getHealth(Call& call);   // GET /health (no auth)
HttpResponse getStatus(Call& call);   // GET /status
HttpResponse getMetrics(Call& call);  // GET /metrics (Prometheus text 0.0.4)
HttpResponse getOpenApi(Call& call);  // GET /openapi.json

}  // namespace turnpike::admin
