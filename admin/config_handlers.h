// Handlers for the whole configuration: export/import (/config) and its history
// (/config/history, /config/history/{version}, /config/history/{version}/restore).
#pragma once

#include "admin/handler_support.h"

namespace turnpike::admin {

HttpResponse getConfig(Call& call);        // GET /config
HttpResponse putConfig(Call& call);        // PUT /config[?dry_run=true]
HttpResponse listHistory(Call& call);      // GET /config/history
HttpResponse getHistoryEntry(Call& call);  // GET /config/history/{version}
HttpResponse restoreVersion(Call& call);   // POST /config/history/{version}/restore[?dry_run=true]

}  // namespace turnpike::admin
