// Handlers for the entity collections (/services, /routes, /consumers, /rate-limit-policies,
// /certificates) and for API keys under /consumers/{consumer}/keys.
//
// One template per operation serves every entity kind through model::EntityTraits<T>; it is
// instantiated in entity_handlers.cc for model::Service, Route, Consumer, RateLimitPolicy and
// Certificate. Answers are the entities' admin form (model::toJson): a certificate's key, plain
// or sealed, is never in one.
// Path parameters: param(0) is the entity's id or name; for keys param(0) is the consumer and
// param(1) the key id.
#pragma once

#include "admin/handler_support.h"

namespace turnpike::admin {

template <class T>
HttpResponse listEntities(Call& call);  // GET /things
template <class T>
HttpResponse getEntity(Call& call);  // GET /things/{id_or_name}
template <class T>
HttpResponse createEntity(Call& call);  // POST /things
template <class T>
HttpResponse putEntity(Call& call);  // PUT /things/{id_or_name}
template <class T>
HttpResponse patchEntity(Call& call);  // PATCH /things/{id_or_name} (RFC 7396)
template <class T>
HttpResponse deleteEntity(Call& call);  // DELETE /things/{id_or_name}

HttpResponse listKeys(Call& call);   // GET /consumers/{consumer}/keys
HttpResponse createKey(Call& call);  // POST /consumers/{consumer}/keys
HttpResponse getKey(Call& call);     // GET /consumers/{consumer}/keys/{key_id}
HttpResponse deleteKey(Call& call);  // DELETE /consumers/{consumer}/keys/{key_id}

}  // namespace turnpike::admin
