// An aggregate route's exchange: every backend called at once, their JSON answers merged in the
// listed order (policy/json_shape.h), the route's response transform applied to the result.
//
// Protocol-agnostic: the codec writes what comes back, as a problem answer or as a JSON body
// with `X-Turnpike-Complete`.
//
// THREAD: the worker thread that owns the exchange; the backend calls run on it concurrently.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "proxy/pipeline/exchange.h"
#include "proxy/proxy_answer.h"

namespace turnpike::proxy::pipeline {

struct AggregateResult {
  // Set when the aggregate failed (a required backend, or every one): 502, or 504 when time
  // running out decided it, with a "backends" member that says what each failed with. Its
  // detail and extra members view the strings below.
  std::optional<ProxyAnswer> problem;
  std::string detail;
  std::string members;
  std::string body;       // the merged JSON, when there is no problem
  bool complete = false;  // every backend answered usably
};

// Calls the backends of `exchange.route` (an aggregate route that admit() passed) and merges
// their answers into `out`. Sets exchange.called_upstream and upstream_duration.
boost::asio::awaitable<void> runAggregate(Worker& worker, Exchange& exchange, AggregateResult& out);

}  // namespace turnpike::proxy::pipeline
