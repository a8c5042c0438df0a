#include "admin/config_handlers.h"

#include <utility>

#include "admin/problem.h"
#include "model/config.h"

namespace turnpike::admin {
namespace {

HttpResponse replacedResponse(const storage::ConfigReplaced& replaced, bool dry_run) {
  HttpResponse response = jsonResponse(200, replacedJson(replaced, dry_run));
  response.setHeader("X-Config-Version", std::to_string(replaced.version));
  return response;
}

nlohmann::json historyJson(const storage::HistoryEntry& entry) {
  return {{"version", entry.version},
          {"at", entry.at},
          {"actor", entry.actor},
          {"action", entry.action},
          {"summary", entry.summary}};
}

model::Result<int64_t> versionParam(const Call& call) {
  auto version = int64Of(call.param(0), "version");
  if (!version || *version < 1) {
    return model::Error::invalidField("version", "must be a positive integer");
  }
  return version;
}

}  // namespace

HttpResponse getConfig(Call& call) {
  auto config = call.ctx.store.loadConfig();
  if (!config) return problem(config.error());
  HttpResponse response = jsonResponse(200, model::toJson(*config));
  response.setHeader("X-Config-Version", std::to_string(config->version));
  return response;
}

HttpResponse putConfig(Call& call) {
  auto dry_run = flagOf(call.request, "dry_run");
  if (!dry_run) return problem(dry_run.error());
  auto body = parseJsonObjectBody(call.request);
  if (!body) return problem(body.error());
  auto config = model::parseConfig(*body);
  if (!config) return problem(config.error());
  auto replaced = call.ctx.store.replaceConfig(std::move(*config), writeOptionsOf(call), *dry_run);
  if (!replaced) return problem(replaced.error());
  return replacedResponse(*replaced, *dry_run);
}

HttpResponse listHistory(Call& call) {
  auto query = listQueryOf(call.request);
  if (!query) return problem(query.error());
  auto page = call.ctx.store.history(*query);
  if (!page) return problem(page.error());
  return jsonResponse(200, pageJson(*page, historyJson));
}

HttpResponse getHistoryEntry(Call& call) {
  auto version = versionParam(call);
  if (!version) return problem(version.error());
  auto entry = call.ctx.store.historyEntry(*version);
  if (!entry) return problem(entry.error());
  nlohmann::json body = historyJson(*entry);
  nlohmann::json changes = nlohmann::json::array();
  for (const storage::Change& change : entry->changes) changes.push_back(changeJson(change));
  body["changes"] = std::move(changes);
  return jsonResponse(200, body);
}

HttpResponse restoreVersion(Call& call) {
  auto version = versionParam(call);
  if (!version) return problem(version.error());
  auto dry_run = flagOf(call.request, "dry_run");
  if (!dry_run) return problem(dry_run.error());
  if (*dry_run) {
    // What a restore would change, computed the way the restore itself does it.
    auto config = call.ctx.store.configAt(*version);
    if (!config) return problem(config.error());
    auto replaced = call.ctx.store.replaceConfig(std::move(*config), writeOptionsOf(call),
                                                 /*dry_run=*/true, "restore");
    if (!replaced) return problem(replaced.error());
    return replacedResponse(*replaced, true);
  }
  auto replaced = call.ctx.store.restore(*version, writeOptionsOf(call));
  if (!replaced) return problem(replaced.error());
  return replacedResponse(*replaced, false);
}

}  // namespace turnpike::admin
