// The pipeline's synchronous half: from a request head to "go upstream" or an answer of our own.
//
// admit() runs DESIGN.md's order on an Exchange whose request half the codec filled:
//   pin the snapshot -> match a route (404) -> the listener the route serves (308 to https, or
//   404 for a route that serves plain HTTP only) -> authentication (401) -> ACL (403) -> rate
//   limits (429) -> the upstream target (strip_path, the request transform's path and query
//   edits), the consistent-hash key and the upstream request head (forwarding fields, consumer
//   fields, the credential to hide), and the service's balancer.
// An aggregate route stops after the policies: its backends are called by pipeline/aggregate.h.
//
// Protocol-agnostic: the codec has checked what its protocol requires (Host, framing, target
// syntax) before; what admit() refuses, it refuses the same way over every protocol.
//
// THREAD: the worker thread that owns the exchange. COST: no allocation on the way through a
// route without policies, beyond strings that keep their capacity in the Exchange.
#pragma once

#include <optional>

#include "proxy/pipeline/exchange.h"
#include "proxy/proxy_answer.h"

namespace turnpike::proxy::pipeline {

// Routes `exchange` and applies its route's policies. nullopt: go on upstream (or to the
// aggregate), with the exchange's decisions set; otherwise the answer to give (its detail views a
// literal or exchange.refusal_detail). Reads worker state (snapshot, limiter, balancers).
std::optional<ProxyAnswer> admit(Worker& worker, Exchange& exchange);

}  // namespace turnpike::proxy::pipeline
