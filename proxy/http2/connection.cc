#include "proxy/http2/connection.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/coarse_clock.h"
#include "proxy/header_rewrite.h"
#include "proxy/http2/server_codec.h"
#include "proxy/http_read.h"
#include "proxy/pipeline/admission.h"
#include "proxy/pipeline/aggregate.h"
#include "proxy/pipeline/exchange.h"
#include "proxy/policy/route_transforms.h"
#include "proxy/proxy_answer.h"
#include "proxy/request_target.h"
#include "proxy/socket_write.h"
#include "proxy/upstream/upstream_connect.h"
#include "proxy/worker.h"

namespace turnpike::proxy::http2 {

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadSize = 16 * 1024;
constexpr std::size_t kChunkSize = 64 * 1024;
constexpr std::size_t kInitialBuffer = 16 * 1024;
constexpr std::size_t kMaxUpstreamHeaderBytes = 64 * 1024;

// An HTTP/1.1 head as Turnpike writes it ("HTTP/1.1 200 OK\r\nName: value\r\n...\r\n") as
// HTTP/2 header fields: names lower-cased, the status apart. The codec drops what HTTP/2 forbids
// (Connection and the fields it names, Transfer-Encoding, Keep-Alive...).
std::vector<Header> headerFields(std::string_view head, int& status) {
  std::vector<Header> fields;
  std::size_t end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, end);
  status = 0;
  if (status_line.size() >= 12) {
    std::from_chars(status_line.data() + 9, status_line.data() + 12, status);
  }
  while (end != std::string_view::npos) {
    const std::size_t start = end + 2;
    end = head.find("\r\n", start);
    const std::string_view line = head.substr(start, end - start);
    const std::size_t colon = line.find(':');
    if (line.empty() || colon == std::string_view::npos) continue;
    Header field{std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))};
    for (char& c : field.name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::size_t value_start = field.value.find_first_not_of(' ');
    field.value.erase(0, value_start == std::string::npos ? field.value.size() : value_start);
    fields.push_back(std::move(field));
  }
  return fields;
}

class Connection;

// One request and its answer: a coroutine of its own, with its own deadline.
class Stream final : public Deadline {
 public:
  Stream(Connection& connection, RequestHead head);
  ~Stream() override { unlink(); }

  void expire() override {
    expired_ = true;
    boost::system::error_code ignored;
    if (upstream_) upstream_->socket().cancel(ignored);
    if (resolver_) resolver_->cancel();
    wake();
  }

  // What the connection tells the stream, from inside the codec's callbacks.
  void addBody(std::string_view data) {
    body_.append(data);
    wake();
  }
  void endRequest() {
    request_ended_ = true;
    wake();
  }
  void close() {
    closed_ = true;
    boost::system::error_code ignored;
    if (upstream_) upstream_->socket().cancel(ignored);
    if (resolver_) resolver_->cancel();
    wake();
  }
  void wake() {
    if (waiting_) signal_.cancel();
  }

  asio::awaitable<void> run();

 private:
  void arm(milliseconds timeout) {
    expired_ = false;
    due = coarseNow() + kCoarseClockLag + timeout;
  }
  void disarm() { due = Clock::time_point::max(); }
  asio::awaitable<void> waitSignal() {
    waiting_ = true;
    signal_.expires_at(Clock::time_point::max());
    co_await signal_.async_wait(kTuple);
    waiting_ = false;
  }

  // The request half of the exchange from the HTTP/2 head; false with a 400 to give.
  bool readHead(ProxyAnswer& refused);
  asio::awaitable<void> answer(const ProxyAnswer& problem);
  // An answer of Turnpike's own: the head (as HTTP/1.1 text) and the body.
  asio::awaitable<void> respondWith(std::string_view head, std::string_view body);
  asio::awaitable<void> aggregate();
  asio::awaitable<void> proxy();
  // Sends the request body from the stream's DATA; false when the upstream or the client failed
  // (`client_failed` says which).
  asio::awaitable<bool> sendBody(bool chunked, bool& client_failed);
  // Queues `data` on the stream, waiting for room; false when the stream is gone or timed out.
  asio::awaitable<bool> send(std::string_view data, bool last);

  Connection& connection_;
  Worker& worker_;
  ServerCodec& codec_;
  RequestHead head_;
  std::vector<HeaderField> fields_;  // views into head_.headers, for the pipeline's HeaderView
  pipeline::Exchange x_;
  std::string body_;  // request body received and not yet sent upstream
  bool request_ended_ = false;
  bool closed_ = false;    // the stream is gone (answered, or reset by the client)
  bool answered_ = false;  // the whole answer is queued
  bool expired_ = false;
  bool waiting_ = false;
  asio::steady_timer signal_;
  std::unique_ptr<upstream::UpstreamConnection> upstream_;
  std::optional<tcp::resolver> resolver_;
  std::optional<HttpParser<false>> response_;
  std::string wire_;
};

class Connection final : public Deadline, public ServerCodec::Handler {
 public:
  Connection(Worker& worker, ByteStream& stream, const ClientInfo& client)
      : worker_(worker),
        options_(worker.options()),
        stream_(stream),
        client_(client),
        codec_(*this, Limits{}),
        wake_(stream.get_executor()),
        done_(stream.get_executor()),
        drained_(stream.get_executor()) {
    worker_.track(*this);
  }
  ~Connection() override { unlink(); }

  asio::awaitable<void> run(std::string_view received);

  void expire() override {
    boost::system::error_code ignored;
    if (stopping_) {
      // Streams that did not finish after the connection ended.
      abandonStreams();
      stream_.socket().cancel(ignored);
      flush();
      return;
    }
    if (writing_) {
      // A client that does not read what we write: cut it.
      stream_.socket().cancel(ignored);
      return;
    }
    // No stream for the idle timeout, or the worker drains: stop reading; what is queued (a
    // GOAWAY) still goes out.
    stream_.socket().shutdown(tcp::socket::shutdown_receive, ignored);
  }

  // ServerCodec::Handler
  void onRequest(RequestHead head) override;
  void onRequestData(int32_t id, std::string_view data) override {
    if (Stream* stream = find(id)) stream->addBody(data);
  }
  void onRequestTrailers(int32_t, std::vector<Header>) override {}
  void onRequestEnd(int32_t id) override {
    if (Stream* stream = find(id)) stream->endRequest();
  }
  void onStreamClosed(int32_t id, uint32_t /*error_code*/) override {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    it->second->close();
    streams_.erase(it);
    if (streams_.empty()) idle_since_ = coarseNow();
    updateDue();
  }
  void onOutputSpace(int32_t id) override {
    if (Stream* stream = find(id)) stream->wake();
  }

  // Something may be queued in the codec: wake the writer.
  void flush() {
    write_wanted_ = true;
    if (writer_waiting_) wake_.cancel();
  }
  void streamDone() {
    --running_;
    if (running_ == 0) done_.cancel();
  }

  Worker& worker() { return worker_; }
  ServerCodec& codec() { return codec_; }
  const ClientInfo& client() const { return client_; }

 private:
  void abandonStreams() {
    for (auto& [id, stream] : streams_) stream->close();
    streams_.clear();
  }
  // The connection's one deadline: a write in progress must finish within the client I/O
  // timeout; without streams the idle timeout runs from when the last one closed (at once when
  // the worker drains); otherwise none (each stream has its own).
  void updateDue() {
    if (stopping_) return;
    if (writing_) {
      idle = false;
      due = write_started_ + kCoarseClockLag + options_.client_io_timeout;
      return;
    }
    idle = streams_.empty();
    if (!idle) {
      due = Clock::time_point::max();
    } else if (worker_.draining()) {
      due = coarseNow();
    } else {
      due = idle_since_ + kCoarseClockLag + options_.idle_timeout;
    }
  }
  Stream* find(int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }
  asio::awaitable<void> writeLoop();

  Worker& worker_;
  const ProxyOptions& options_;
  ByteStream& stream_;
  const ClientInfo& client_;
  ServerCodec codec_;
  std::unordered_map<int32_t, std::shared_ptr<Stream>> streams_;
  std::size_t running_ = 0;     // stream coroutines not yet finished
  asio::steady_timer wake_;     // the writer's
  asio::steady_timer done_;     // the last stream coroutine's, at the end
  asio::steady_timer drained_;  // the reader's, while the writer writes what a read caused
  std::string out_;
  bool write_wanted_ = true;  // our SETTINGS are queued from the start
  bool writer_waiting_ = false;
  bool reader_waiting_ = false;
  bool writing_ = false;
  bool write_failed_ = false;
  bool stopping_ = false;
  Clock::time_point idle_since_ = coarseNow();
  Clock::time_point write_started_;
};

Stream::Stream(Connection& connection, RequestHead head)
    : connection_(connection),
      worker_(connection.worker()),
      codec_(connection.codec()),
      head_(std::move(head)),
      signal_(worker_.context().get_executor()) {
  worker_.track(*this);
  request_ended_ = head_.end_stream;
}

void Connection::onRequest(RequestHead head) {
  const int32_t id = head.stream_id;
  auto stream = std::make_shared<Stream>(*this, std::move(head));
  streams_[id] = stream;
  updateDue();
  ++running_;
  asio::co_spawn(
      worker_.context(),
      [this, stream]() -> asio::awaitable<void> {
        try {
          co_await stream->run();
        } catch (const std::exception& e) {
          spdlog::error("{}: HTTP/2 stream failed: {}", worker_.name(), e.what());
        }
        streamDone();
      },
      asio::detached);
}

asio::awaitable<void> Connection::run(std::string_view received) {
  asio::co_spawn(
      worker_.context(),
      [this]() -> asio::awaitable<void> {
        try {
          co_await writeLoop();
        } catch (const std::exception& e) {
          spdlog::error("{}: HTTP/2 connection writer failed: {}", worker_.name(), e.what());
          write_failed_ = true;
          abandonStreams();
          if (reader_waiting_) drained_.cancel();
        }
        streamDone();
      },
      asio::detached);
  ++running_;  // the writer counts as one
  bool ok = received.empty() || codec_.receive(received);
  flush();
  std::array<char, kReadSize> buffer;
  for (;;) {
    // What the codec queued in answer goes out before more is read (its back-pressure rule),
    // and before wantsRead() is asked: a GOAWAY the codec queued ends reading once it is sent.
    while ((write_wanted_ || writing_) && !write_failed_) {
      reader_waiting_ = true;
      drained_.expires_at(Clock::time_point::max());
      co_await drained_.async_wait(kTuple);
      reader_waiting_ = false;
    }
    // A draining worker's connections stop taking requests (a GOAWAY follows).
    if (!ok || write_failed_ || !codec_.wantsRead() || worker_.draining()) break;
    updateDue();
    auto [ec, n] = co_await stream_.async_read_some(asio::buffer(buffer), kTuple);
    if (ec) break;
    ok = codec_.receive(std::string_view(buffer.data(), n));
    flush();
  }
  idle = false;
  due = Clock::time_point::max();
  codec_.goAway();
  // After a connection error every stream still open ends (their upstreams are let go);
  // otherwise (a drain, a client that closed its side) they may finish, within the client I/O
  // timeout.
  if (!ok || write_failed_) abandonStreams();
  stopping_ = true;
  due = coarseNow() + kCoarseClockLag + options_.client_io_timeout;
  flush();
  while (running_ > 0) {
    done_.expires_at(Clock::time_point::max());
    co_await done_.async_wait(kTuple);
  }
}

asio::awaitable<void> Connection::writeLoop() {
  for (;;) {
    if (!write_wanted_) {
      if (reader_waiting_) drained_.cancel();
      if (stopping_ && streams_.empty()) break;
      writer_waiting_ = true;
      wake_.expires_at(Clock::time_point::max());
      co_await wake_.async_wait(kTuple);
      writer_waiting_ = false;
      continue;
    }
    write_wanted_ = false;
    out_.clear();
    codec_.takeOutput(out_);
    if (out_.empty()) continue;
    writing_ = true;
    write_started_ = coarseNow();
    updateDue();
    auto [ec, n] = co_await writeAll(stream_, asio::buffer(out_));
    writing_ = false;
    updateDue();
    if (ec) {
      write_failed_ = true;
      abandonStreams();
      boost::system::error_code ignored;
      stream_.socket().cancel(ignored);
      if (reader_waiting_) drained_.cancel();
      break;
    }
    if (codec_.wantsWrite()) write_wanted_ = true;
  }
}

bool Stream::readHead(ProxyAnswer& refused) {
  x_.start(worker_);
  const ClientInfo& client = connection_.client();
  x_.client_ip = client.client_ip;
  x_.tls = client.tls;
  x_.client_cert_fields = client.client_cert_fields;
  x_.protocol = "HTTP/2";
  x_.method = head_.method;
  x_.host = head_.authority;
  x_.raw_target = head_.path;
  fields_.clear();
  std::string_view request_id;
  std::optional<uint64_t> content_length;
  for (const Header& field : head_.headers) {
    fields_.push_back({field.name, field.value});
    if (field.name == "x-request-id" && request_id.empty()) request_id = field.value;
    if (field.name == "content-length") {
      uint64_t value = 0;
      const auto [end, ec] =
          std::from_chars(field.value.data(), field.value.data() + field.value.size(), value);
      if (ec == std::errc() && end == field.value.data() + field.value.size()) {
        content_length = value;
      }
    }
  }
  x_.headers = HeaderView(std::span<const HeaderField>(fields_));
  if (isAcceptableRequestId(request_id)) {
    x_.request_id.assign(request_id);
  } else {
    worker_.requestIds().next(x_.request_id);
  }
  x_.framing = head_.end_stream ? BodyFraming::kNone
               : content_length ? BodyFraming::kContentLength
                                : BodyFraming::kChunked;
  x_.content_length = content_length.value_or(0);
  if (x_.framing == BodyFraming::kContentLength && x_.content_length == 0) {
    x_.framing = BodyFraming::kNone;
  }
  RequestTarget target;
  RequestTargetError error;
  if (head_.method == "CONNECT" || !parseRequestTarget(head_.path, target, error) ||
      !target.authority.empty()) {
    refused = {.status = 400,
               .detail = head_.method == "CONNECT" ? "CONNECT is not supported"
                                                   : "the request's :path is not a valid path"};
    return false;
  }
  x_.path.assign(target.path);
  x_.query.assign(target.query);
  return true;
}

asio::awaitable<void> Stream::run() {
  ProxyAnswer refused;
  if (!readHead(refused)) {
    co_await answer(refused);
  } else if (std::optional<ProxyAnswer> problem = pipeline::admit(worker_, x_)) {
    co_await answer(*problem);
  } else if (x_.route->isAggregate()) {
    co_await aggregate();
  } else {
    co_await proxy();
  }
  disarm();
  // An answer cut short (the upstream failed or the client stopped reading): the client must
  // not take what it got for the whole.
  if (!answered_ && !closed_) codec_.resetStream(head_.stream_id, 0x2 /* INTERNAL_ERROR */);
  if (closed_ && x_.status == 0) x_.status = 499;  // the client reset the stream first
  x_.record(worker_);
  // A body left unread: the codec told the client to stop sending it (RST_STREAM NO_ERROR after
  // the answer); what arrived is given back to the connection's window.
  if (!body_.empty()) codec_.consumed(head_.stream_id, body_.size());
  connection_.flush();
}

asio::awaitable<void> Stream::answer(const ProxyAnswer& problem) {
  x_.status = problem.status;
  wire_.clear();
  renderProblem(problem, x_.request_id, true, head_.method == "HEAD", wire_);
  const std::size_t head_end = wire_.find("\r\n\r\n") + 4;
  co_await respondWith(std::string_view(wire_).substr(0, head_end),
                       std::string_view(wire_).substr(head_end));
}

asio::awaitable<void> Stream::respondWith(std::string_view head, std::string_view body) {
  int status = 0;
  std::vector<Header> fields = headerFields(head, status);
  if (closed_) co_return;
  codec_.respond(head_.stream_id, status, fields, body.empty());
  connection_.flush();
  answered_ = body.empty();
  if (!body.empty() && co_await send(body, true)) x_.bytes_sent += body.size();
}

asio::awaitable<void> Stream::aggregate() {
  pipeline::AggregateResult result;
  co_await pipeline::runAggregate(worker_, x_, result);
  if (result.problem) {
    co_await answer(*result.problem);
    co_return;
  }
  const policy::CompiledResponseTransform* transform = x_.route->response_transform.get();
  Fields fields;
  fields.set(http::field::content_type, "application/json");
  fields.set("X-Turnpike-Complete", result.complete ? "true" : "false");
  x_.status = 200;
  ClientResponseHead head{.status = 200,
                          .framing = BodyFraming::kContentLength,
                          .content_length = result.body.size(),
                          .request_id = x_.request_id,
                          .edits = transform != nullptr ? &transform->headers() : nullptr};
  pipeline::Exchange::RateLimitLines lines;
  head.extra_fields = x_.rateLimitLines(lines);
  wire_.clear();
  appendClientResponseHead(fields, head, wire_);
  co_await respondWith(wire_, head_.method == "HEAD" ? std::string_view() : result.body);
}

asio::awaitable<bool> Stream::send(std::string_view data, bool last) {
  for (;;) {
    if (closed_) co_return false;
    switch (codec_.sendData(head_.stream_id, data, last)) {
      case SendResult::kQueued:
        connection_.flush();
        answered_ = last;
        co_return true;
      case SendResult::kQueuedFull:
        connection_.flush();
        answered_ = last;
        // Wait until the client took some: a client that stops reading is cut by the timeout.
        arm(worker_.options().client_io_timeout);
        while (!closed_ && !expired_ &&
               codec_.queuedBytes(head_.stream_id) >= Limits{}.max_outbound_bytes_per_stream) {
          co_await waitSignal();
        }
        co_return !closed_ && !expired_;
      case SendResult::kFull:
        connection_.flush();
        arm(worker_.options().client_io_timeout);
        co_await waitSignal();
        if (expired_) co_return false;
        continue;
      case SendResult::kClosed:
        co_return false;
    }
  }
}

asio::awaitable<bool> Stream::sendBody(bool chunked, bool& client_failed) {
  const milliseconds client_timeout = worker_.options().client_io_timeout;
  const milliseconds upstream_timeout = x_.route->service->read_timeout;
  for (;;) {
    while (body_.empty() && !request_ended_ && !closed_) {
      arm(client_timeout);
      co_await waitSignal();
      if (expired_) break;
    }
    if (closed_ || (expired_ && body_.empty() && !request_ended_)) {
      client_failed = true;
      co_return false;
    }
    const bool last = request_ended_;
    std::string piece;
    if (chunked) {
      if (!body_.empty()) {
        std::array<char, 20> size;
        const auto end = std::to_chars(size.data(), size.data() + size.size(), body_.size(), 16);
        piece.append(size.data(), end.ptr).append("\r\n").append(body_).append("\r\n");
      }
      if (last) piece.append("0\r\n\r\n");
    } else {
      piece = body_;
    }
    const std::size_t taken = body_.size();
    body_.clear();
    arm(upstream_timeout);
    auto [ec, n] = co_await writeAll(upstream_->stream, asio::buffer(piece));
    if (ec) co_return false;
    codec_.consumed(head_.stream_id, taken);
    connection_.flush();
    if (last) co_return true;
  }
}

asio::awaitable<void> Stream::proxy() {
  const CompiledService& service = *x_.route->service;
  const bool head_request = head_.method == "HEAD";
  Fields request_fields;
  for (const Header& field : head_.headers) request_fields.insert(field.name, field.value);
  uint64_t tried = 0;
  int retries_left = service.retries;
  int failure_status = 0;
  std::string failure_detail;
  std::string upstream_head;
  for (;;) {
    if (closed_) co_return;
    x_.target_index = x_.balancer->pick(x_.hash_key, coarseNow(), tried);
    if (!x_.target_index) {
      if (failure_status != 0) break;
      x_.refusal_detail = "no healthy target for service " + service.name();
      co_await answer({.status = 503, .detail = x_.refusal_detail});
      co_return;
    }
    const std::size_t index = *x_.target_index;
    x_.picked_generation = x_.balancer->generation();
    x_.target = x_.balancer->target(index);
    if (index < 64) tried |= uint64_t{1} << index;

    upstream_ = worker_.pool().take(x_.target.poolKey());
    const bool reused = upstream_ != nullptr;
    if (reused && !x_.retryable && upstream::ConnectionPool::isClosedByPeer(*upstream_)) {
      upstream_.reset();
    }
    x_.called_upstream = true;
    const auto upstream_started = Clock::now();
    if (!upstream_) {
      upstream_ = std::make_unique<upstream::UpstreamConnection>(worker_.context().get_executor());
      upstream_->key = x_.target.poolKey();
      upstream_->buffer.reserve(kInitialBuffer);
      arm(service.connect_timeout);
      upstream::Opened opened =
          co_await upstream::openUpstream(*upstream_, x_.target, service.tls.get(), resolver_);
      if (opened.ec) {
        x_.reportFailure();
        failure_status = expired_ ? 504 : 502;
        failure_detail =
            expired_ ? "connecting to " + x_.target.url + " timed out" : std::move(opened.detail);
        upstream_.reset();
        if (closed_) co_return;
        if (retries_left-- > 0) continue;
        break;
      }
    }
    x_.upstream_request.host = x_.route->preserveHost() && !x_.host.empty()
                                   ? std::string_view(x_.host)
                                   : x_.target.authority;
    upstream_head.clear();
    appendUpstreamRequestHead(request_fields, x_.upstream_request, upstream_head);

    x_.balancer->onRequestStart(index);
    struct InFlight {
      pipeline::Exchange& exchange;
      ~InFlight() {
        if (auto current = exchange.currentIndex()) exchange.balancer->onRequestEnd(*current);
      }
    } in_flight{x_};

    arm(service.read_timeout);
    auto [head_ec, head_n] = co_await writeAll(upstream_->stream, asio::buffer(upstream_head));
    bool sent = !head_ec;
    if (sent && x_.framing != BodyFraming::kNone) {
      bool client_failed = false;
      sent = co_await sendBody(x_.framing == BodyFraming::kChunked, client_failed);
      if (client_failed) {
        upstream_.reset();
        if (!closed_) {
          x_.status = 408;
          co_await answer({.status = 408, .detail = "the request body did not arrive in time"});
        }
        co_return;
      }
    }
    if (!sent) {
      const bool timed_out = expired_;
      upstream_.reset();
      if (closed_) co_return;
      if (reused && x_.retryable && !timed_out) {
        tried &= ~(index < 64 ? uint64_t{1} << index : 0);
        continue;
      }
      x_.reportFailure();
      failure_status = timed_out ? 504 : 502;
      failure_detail = timed_out ? "sending the request to " + x_.target.url + " timed out"
                                 : "the upstream " + x_.target.url + " closed the connection";
      break;
    }

    boost::system::error_code ec;
    for (;;) {
      HttpParser<false>& response = recycleParser(response_);
      response.header_limit(kMaxUpstreamHeaderBytes);
      response.body_limit(boost::none);
      if (head_request) response.skip(true);
      arm(service.read_timeout);
      ec = co_await readHttp(upstream_->stream, upstream_->buffer, response, ReadGoal::kHeader);
      if (ec || response.get().result_int() / 100 != 1) break;
    }
    if (ec) {
      const bool timed_out = expired_;
      const bool nothing_received = !response_->got_some() && upstream_->buffer.size() == 0;
      upstream_.reset();
      if (closed_) co_return;
      if (reused && nothing_received && x_.retryable && !timed_out) {
        tried &= ~(index < 64 ? uint64_t{1} << index : 0);
        continue;
      }
      x_.reportFailure();
      failure_status = timed_out ? 504 : 502;
      failure_detail =
          timed_out ? "the upstream " + x_.target.url + " did not answer within " +
                          std::to_string(service.read_timeout.count()) + " ms"
                    : "the upstream " + x_.target.url + " sent no valid response: " + ec.message();
      break;
    }
    x_.upstream_duration =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - upstream_started);
    x_.reportSuccess();

    // The response: its head as HEADERS, its body as DATA.
    HttpParser<false>& parser = *response_;
    const auto& response = parser.get();
    x_.status = static_cast<int>(response.result_int());
    const auto content_length = parser.content_length();
    const bool no_body = head_request || x_.status == 204 || x_.status == 304;
    const bool until_eof = !no_body && !parser.chunked() && !content_length;
    const bool upstream_keep_alive = keepsAlive(response.fields(), response.version());
    const policy::CompiledResponseTransform* transform = x_.route->response_transform.get();
    ClientResponseHead head{.status = response.result_int(),
                            .framing = no_body ? BodyFraming::kAsReceived
                                       : content_length && !parser.chunked()
                                           ? BodyFraming::kContentLength
                                           : BodyFraming::kNone,
                            .content_length = content_length.value_or(0),
                            .request_id = x_.request_id,
                            .edits = transform != nullptr ? &transform->headers() : nullptr};
    pipeline::Exchange::RateLimitLines lines;
    head.extra_fields = x_.rateLimitLines(lines);
    BodySource<false> body(parser);
    std::unique_ptr<char[]> piece = std::make_unique<char[]>(kChunkSize);
    const bool reshape = transform != nullptr && transform->json() != nullptr && !no_body &&
                         reshapesJson(response, content_length, *transform);
    if (reshape) {
      std::string whole;
      while (!body.done() && whole.size() <= transform->maxBodyBytes()) {
        arm(service.read_timeout);
        auto [read_ec, n] =
            co_await body.next(upstream_->stream, upstream_->buffer, piece.get(), kChunkSize);
        if (read_ec) {
          upstream_.reset();
          co_await answer({.status = 502, .detail = "the upstream sent a malformed body"});
          co_return;
        }
        whole.append(piece.get(), n);
      }
      if (body.done()) {
        policy::reshapeJsonBody(*transform->json(), whole);
        head.framing = BodyFraming::kContentLength;
        head.content_length = whole.size();
        wire_.clear();
        appendClientResponseHead(response.fields(), head, wire_);
        const bool reusable = upstream_keep_alive && !until_eof;
        if (reusable && upstream_->buffer.size() == 0) {
          ++upstream_->requests;
          worker_.pool().put(std::move(upstream_), coarseNow());
        }
        upstream_.reset();
        co_await respondWith(wire_, whole);
        co_return;
      }
      // Longer than the cap: what was read goes first, the rest follows as received.
      head.framing = BodyFraming::kNone;
      wire_.clear();
      appendClientResponseHead(response.fields(), head, wire_);
      int status = 0;
      codec_.respond(head_.stream_id, x_.status, headerFields(wire_, status), false);
      if (!co_await send(whole, false)) {
        upstream_.reset();
        co_return;
      }
      x_.bytes_sent += whole.size();
    } else {
      wire_.clear();
      appendClientResponseHead(response.fields(), head, wire_);
      int status = 0;
      if (closed_) co_return;
      codec_.respond(head_.stream_id, x_.status, headerFields(wire_, status), no_body);
      connection_.flush();
      answered_ = no_body;
    }
    while (!no_body) {
      std::size_t n = 0;
      if (!body.done()) {
        arm(service.read_timeout);
        auto [read_ec, got] =
            co_await body.next(upstream_->stream, upstream_->buffer, piece.get(), kChunkSize);
        if (read_ec) {
          spdlog::warn("{}: upstream {} failed in the response body: {}", worker_.name(),
                       x_.target.url, read_ec.message());
          upstream_.reset();
          if (!closed_) codec_.resetStream(head_.stream_id, 0x2 /* INTERNAL_ERROR */);
          connection_.flush();
          co_return;
        }
        n = got;
      }
      const bool last = body.done();
      if (!co_await send(std::string_view(piece.get(), n), last)) {
        upstream_.reset();
        co_return;
      }
      x_.bytes_sent += n;
      if (last) break;
    }
    disarm();
    if ((no_body || body.done()) && upstream_keep_alive && !until_eof &&
        upstream_->buffer.size() == 0) {
      ++upstream_->requests;
      worker_.pool().put(std::move(upstream_), coarseNow());
    }
    upstream_.reset();
    co_return;
  }
  co_await answer({.status = failure_status, .detail = failure_detail});
}

}  // namespace

asio::awaitable<void> serveConnection(Worker& worker, ByteStream& stream, std::string_view received,
                                      const ClientInfo& client) {
  Connection connection(worker, stream, client);
  co_await connection.run(received);
}

}  // namespace turnpike::proxy::http2
