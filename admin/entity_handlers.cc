#include "admin/entity_handlers.h"

#include <string>
#include <utility>

#include "admin/problem.h"
#include "model/api_key.h"
#include "model/entity_traits.h"
#include "model/identity.h"

namespace turnpike::admin {
namespace {

using model::EntityTraits;

std::string collectionPath(std::string_view collection, const std::string& id) {
  return "/" + std::string(collection) + "/" + id;
}

// A single entity's answer: its JSON, ETag and, for writes, the new config version.
HttpResponse entityResponse(int status, const nlohmann::json& entity, int64_t version = 0) {
  HttpResponse response = jsonResponse(status, entity);
  response.setHeader("ETag", model::etagOf(entity));
  if (version > 0) response.setHeader("X-Config-Version", std::to_string(version));
  return response;
}

HttpResponse deletedResponse(int64_t version) {
  HttpResponse response;
  response.status = 204;
  response.setHeader("X-Config-Version", std::to_string(version));
  return response;
}

// `If-Match: *` means "only if it exists" (RFC 9110 §13.1.1). The store compares concrete tags,
// so a star becomes the current entity's tag, or 412 when there is none.
template <class T>
model::Status resolveStar(storage::ConfigStore& store, std::string_view id_or_name,
                          storage::WriteOptions& options) {
  if (!options.if_match || *options.if_match != "*") return model::Ok{};
  auto current = store.get<T>(id_or_name);
  if (!current) {
    if (current.error().code != model::ErrorCode::kNotFound) return current.error();
    return model::Error::preconditionFailed(std::string(EntityTraits<T>::kType) + " '" +
                                            std::string(id_or_name) +
                                            "' does not exist (If-Match: *)");
  }
  options.if_match = model::etagOf(toJson(*current));
  return model::Ok{};
}

}  // namespace

template <class T>
HttpResponse listEntities(Call& call) {
  auto query = listQueryOf(call.request);
  if (!query) return problem(query.error());
  auto page = call.ctx.store.list<T>(*query);
  if (!page) return problem(page.error());
  return jsonResponse(200, pageJson(*page, [](const T& e) { return toJson(e); }));
}

template <class T>
HttpResponse getEntity(Call& call) {
  auto entity = call.ctx.store.get<T>(call.param(0));
  if (!entity) return problem(entity.error());
  return entityResponse(200, toJson(*entity));
}

template <class T>
HttpResponse createEntity(Call& call) {
  auto body = parseJsonObjectBody(call.request);
  if (!body) return problem(body.error());
  auto entity = EntityTraits<T>::parse(*body);
  if (!entity) return problem(entity.error());
  auto written = call.ctx.store.create<T>(std::move(*entity), writeOptionsOf(call));
  if (!written) return problem(written.error());
  HttpResponse response = entityResponse(201, toJson(written->entity), written->version);
  response.setHeader("Location", collectionPath(EntityTraits<T>::kCollection, written->entity.id));
  return response;
}

template <class T>
HttpResponse putEntity(Call& call) {
  const std::string& id_or_name = call.param(0);
  auto body = parseJsonObjectBody(call.request);
  if (!body) return problem(body.error());
  // PUT /services/orders may leave out "name": the URL already says it.
  std::string name_field(EntityTraits<T>::kNameField);
  if (!body->contains(name_field) && !model::isUuid(id_or_name)) (*body)[name_field] = id_or_name;
  auto entity = EntityTraits<T>::parse(*body);
  if (!entity) return problem(entity.error());
  storage::WriteOptions options = writeOptionsOf(call);
  if (auto star = resolveStar<T>(call.ctx.store, id_or_name, options); !star) {
    return problem(star.error());
  }
  auto written = call.ctx.store.put<T>(id_or_name, std::move(*entity), options);
  if (!written) return problem(written.error());
  HttpResponse response =
      entityResponse(written->created ? 201 : 200, toJson(written->entity), written->version);
  if (written->created) {
    response.setHeader("Location",
                       collectionPath(EntityTraits<T>::kCollection, written->entity.id));
  }
  return response;
}

template <class T>
HttpResponse patchEntity(Call& call) {
  auto patch = parseJsonObjectBody(call.request);
  if (!patch) return problem(patch.error());
  auto current = call.ctx.store.get<T>(call.param(0));
  if (!current) return problem(current.error());
  nlohmann::json merged = toJson(*current);
  std::string current_tag = model::etagOf(merged);
  merged.merge_patch(*patch);
  auto entity = EntityTraits<T>::parse(merged);
  if (!entity) return problem(entity.error());
  // The merge is based on what we read; if someone else wrote in between, the write must fail
  // (412) rather than silently undo their change. A client's own If-Match is stricter still.
  storage::WriteOptions options = writeOptionsOf(call);
  if (!options.if_match || *options.if_match == "*") options.if_match = current_tag;
  auto written = call.ctx.store.put<T>(current->id, std::move(*entity), options);
  if (!written) return problem(written.error());
  return entityResponse(200, toJson(written->entity), written->version);
}

template <class T>
HttpResponse deleteEntity(Call& call) {
  storage::WriteOptions options = writeOptionsOf(call);
  if (auto star = resolveStar<T>(call.ctx.store, call.param(0), options); !star) {
    return problem(star.error());
  }
  auto deleted = call.ctx.store.remove<T>(call.param(0), options);
  if (!deleted) return problem(deleted.error());
  return deletedResponse(deleted->version);
}

#define TURNPIKE_ENTITY_HANDLERS(T)                   \
  template HttpResponse listEntities<T>(Call & call); \
  template HttpResponse getEntity<T>(Call & call);    \
  template HttpResponse createEntity<T>(Call & call); \
  template HttpResponse putEntity<T>(Call & call);    \
  template HttpResponse patchEntity<T>(Call & call);  \
  template HttpResponse deleteEntity<T>(Call & call);

TURNPIKE_ENTITY_HANDLERS(model::Service)
TURNPIKE_ENTITY_HANDLERS(model::Route)
TURNPIKE_ENTITY_HANDLERS(model::Consumer)
TURNPIKE_ENTITY_HANDLERS(model::RateLimitPolicy)
TURNPIKE_ENTITY_HANDLERS(model::Certificate)
#undef TURNPIKE_ENTITY_HANDLERS

HttpResponse listKeys(Call& call) {
  auto query = listQueryOf(call.request);
  if (!query) return problem(query.error());
  auto page = call.ctx.store.listKeys(call.param(0), *query);
  if (!page) return problem(page.error());
  return jsonResponse(200, pageJson(*page, [](const model::ApiKey& k) { return toJson(k); }));
}

HttpResponse createKey(Call& call) {
  auto body = parseJsonObjectBody(call.request, nlohmann::json::object());
  if (!body) return problem(body.error());
  auto request = model::parseNewApiKey(*body);
  if (!request) return problem(request.error());
  if (request->expires_at && *request->expires_at <= unixNow()) {
    return problem(model::Error::invalidField("expires_at", "must be in the future"));
  }
  std::string key = request->key.empty() ? model::generateApiKey() : std::move(request->key);
  model::ApiKey stored;
  stored.id = std::move(request->id);
  stored.key_hash = model::sha256Hex(key);
  stored.prefix = model::keyPrefix(key);
  stored.expires_at = request->expires_at;
  stored.tags = std::move(request->tags);
  auto written = call.ctx.store.createKey(call.param(0), std::move(stored), writeOptionsOf(call));
  if (!written) return problem(written.error());

  nlohmann::json entity = toJson(written->entity);
  HttpResponse response = entityResponse(201, entity, written->version);
  // The only time the key is ever shown: it must not sit in a cache either.
  entity["key"] = std::move(key);
  response.body = dumpJson(entity);
  response.setHeader("Cache-Control", "no-store");
  response.setHeader("Location",
                     "/consumers/" + written->entity.consumer_id + "/keys/" + written->entity.id);
  return response;
}

HttpResponse getKey(Call& call) {
  auto key = call.ctx.store.getKey(call.param(0), call.param(1));
  if (!key) return problem(key.error());
  return entityResponse(200, toJson(*key));
}

HttpResponse deleteKey(Call& call) {
  auto deleted = call.ctx.store.removeKey(call.param(0), call.param(1), writeOptionsOf(call));
  if (!deleted) return problem(deleted.error());
  return deletedResponse(deleted->version);
}

}  // namespace turnpike::admin
