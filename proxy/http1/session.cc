#include "proxy/http1/session.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "model/encoding.h"
#include "proxy/byte_stream.h"
#include "proxy/coarse_clock.h"
#include "proxy/header_rewrite.h"
#include "proxy/http2/connection.h"
#include "proxy/http2/server_codec.h"
#include "proxy/http_read.h"
#include "proxy/pipeline/admission.h"
#include "proxy/pipeline/aggregate.h"
#include "proxy/pipeline/exchange.h"
#include "proxy/policy/route_transforms.h"
#include "proxy/proxy_answer.h"
#include "proxy/request_target.h"
#include "proxy/router.h"
#include "proxy/socket_write.h"
#include "proxy/splice_relay.h"
#include "proxy/tls/certificate_table.h"
#include "proxy/tls/tls_listener.h"
#include "proxy/upstream/upstream_connect.h"
#include "proxy/worker.h"

namespace turnpike::proxy::http1 {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kInitialBuffer = 16 * 1024;
constexpr std::size_t kChunkSize = 64 * 1024;  // DESIGN.md: smaller chunks made 1 MB relays slow
// Bodies with more than this left once the head is out are spliced (splice_relay.h).
constexpr uint64_t kSpliceAbove = kChunkSize;
constexpr std::size_t kMaxUpstreamHeaderBytes = 64 * 1024;
constexpr std::size_t kLingerBytes = 256 * 1024;
constexpr milliseconds kLingerTime{2000};
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

using RequestParser = HttpParser<true>;
using ResponseParser = HttpParser<false>;

// What exchange() reads of the request's fields, from one pass over them (a lookup by name
// walks Beast's field tree, once per lookup). The first value wins, as with operator[].
struct RequestFieldFacts {
  std::string_view request_id;  // X-Request-Id
  std::string_view host;
  std::size_t hosts = 0;  // Host fields
  bool transfer_encoding = false;
  bool expect_continue = false;     // Expect: 100-continue
  std::string_view upgrade;         // the first Upgrade field
  bool connection_upgrade = false;  // a Connection field names "upgrade"
};

RequestFieldFacts scanRequestFields(const Fields& fields) {
  RequestFieldFacts facts;
  bool request_id_seen = false;
  bool expect_seen = false;
  for (const auto& field : fields) {
    switch (field.name()) {
      case http::field::host:
        if (facts.hosts++ == 0) facts.host = field.value();
        break;
      case http::field::transfer_encoding:
        facts.transfer_encoding = true;
        break;
      case http::field::expect:
        if (!expect_seen) facts.expect_continue = beast::iequals(field.value(), "100-continue");
        expect_seen = true;
        break;
      case http::field::upgrade:
        if (facts.upgrade.empty()) facts.upgrade = field.value();
        break;
      case http::field::connection:
        facts.connection_upgrade = facts.connection_upgrade || hasToken(field.value(), "upgrade");
        break;
      case http::field::unknown:
        if (!request_id_seen && beast::iequals(field.name_string(), "X-Request-Id")) {
          facts.request_id = field.value();
          request_id_seen = true;
        }
        break;
      default:
        break;
    }
  }
  return facts;
}

// One write of a message being relayed: the head (first piece only), then the body piece,
// framed as a chunk when the message is chunked, and the last chunk after the last piece.
class BodyPiece {
 public:
  BodyPiece(std::string_view head, const char* data, std::size_t size, bool chunked, bool last) {
    buffers_[0] = asio::buffer(head);
    if (!chunked) {
      buffers_[2] = asio::buffer(data, size);
      return;
    }
    if (size > 0) {
      char* end = std::to_chars(size_line_.data(), size_line_.data() + 16, size, 16).ptr;
      *end++ = '\r';
      *end++ = '\n';
      buffers_[1] =
          asio::buffer(size_line_.data(), static_cast<std::size_t>(end - size_line_.data()));
      buffers_[2] = asio::buffer(data, size);
      buffers_[3] = asio::buffer(kCrlf);
    }
    if (last) buffers_[4] = asio::buffer(kLastChunk);
  }

  const std::array<asio::const_buffer, 5>& buffers() const { return buffers_; }

 private:
  static constexpr std::string_view kCrlf = "\r\n";
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";
  std::array<char, 20> size_line_;
  std::array<asio::const_buffer, 5> buffers_;
};

// What the session was doing when its deadline passed: decides 408 vs 504 vs a silent close.
enum class Phase : uint8_t { kIdle, kHeaders, kClientIo, kConnect, kUpstream, kTunnel };

bool isHttpParseError(const boost::system::error_code& ec) {
  return &ec.category() == &http::make_error_code(http::error::bad_method).category();
}

// The X-Client-Cert-* lines for a verified client certificate: its subject (RFC 2253, with
// control and non-ASCII characters escaped, so it is safe in a header) and its SHA-256.
std::string clientCertificateFields(X509* peer) {
  std::string out = "X-Client-Cert-Subject: ";
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    if (X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
      char* data = nullptr;
      const long size = BIO_get_mem_data(bio, &data);
      out.append(data, static_cast<std::size_t>(size));
    }
    BIO_free(bio);
  }
  out.append("\r\nX-Client-Cert-Fingerprint: ");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (X509_digest(peer, EVP_sha256(), digest, &size) == 1) {
    out.append(model::hexLower(std::string_view(reinterpret_cast<const char*>(digest), size)));
  }
  out.append("\r\n");
  return out;
}

class Session final : public Deadline {
 public:
  Session(Worker& worker, tcp::socket socket, tls::TlsListener* tls)
      : worker_(worker), options_(worker.options()), client_(std::move(socket)), tls_(tls) {
    worker_.track(*this);
    worker_.connectionOpened();
    boost::system::error_code ec;
    auto endpoint = client_.socket().remote_endpoint(ec);
    if (!ec) client_ip_ = endpoint.address().to_string();
    x_.client_ip = client_ip_;
    x_.tls = tls != nullptr;
    x_.protocol = "HTTP/1.1";
  }

  ~Session() override {
    unlink();
    worker_.connectionClosed();
  }

  asio::awaitable<void> run();

  void expire() override {
    expired_ = true;
    boost::system::error_code ignored;
    client_.socket().cancel(ignored);
    if (upstream_) upstream_->socket().cancel(ignored);
    if (resolver_) resolver_->cancel();
  }

 private:
  enum class Sent : uint8_t { kOk, kClientFailed, kUpstreamFailed };

  void arm(Phase phase, milliseconds timeout) {
    phase_ = phase;
    idle = phase == Phase::kIdle;
    expired_ = false;
    due = coarseNow() + kCoarseClockLag + timeout;  // late by the lag at most, never early
  }
  void disarm() { due = Clock::time_point::max(); }

  // Whether body bytes may go from socket to socket through the kernel: neither side encrypts
  // them, and the pipe opened.
  bool splices() { return !client_.isTls() && !upstream_->stream.isTls() && pipe_.open(); }

  // Arms the header timeout and starts a parser for the next request, with the limits.
  RequestParser& startRequestHeader();
  // A request whose headers failed with `ec`: answers 400/413/431/408 when there is something
  // to say (and closes after it), nothing on a clean close, reset or cancel.
  asio::awaitable<void> refuseRequestHeader(boost::system::error_code ec);
  // Resets the per-request state; exchange() follows. Not a coroutine: one frame less per request.
  void startRequest() {
    x_.start(worker_);
    request_read_ = false;
  }
  asio::awaitable<bool> exchange();
  // The TLS handshake of a TLS listener's connection; false when it failed (the connection is
  // then closed without a word: there is no HTTP to answer in).
  asio::awaitable<bool> handshake();
  // An answer of the proxy's own instead of going upstream. answer.detail views a literal or
  // x_.refusal_detail.
  struct Refusal {
    ProxyAnswer answer;
    bool keep_alive = false;
  };
  // The request head's HTTP/1.1 checks (Host, framing, target), then the pipeline's routing and
  // policies (pipeline::admit), before anything is sent upstream. Synchronous, so that
  // exchange()'s coroutine frame stays small.
  std::optional<Refusal> admit();
  // Whether our own answer can keep the connection: no request body is left unread.
  bool reusable() const { return keep_alive_ && request_->is_done(); }
  asio::awaitable<bool> answer(ProxyAnswer answer, bool keep_alive);
  asio::awaitable<bool> answerFromUpstreamError(int status, std::string detail);
  // A new upstream_ to `target`, under the service's connect timeout (TLS handshake included).
  asio::awaitable<upstream::Opened> connect(const UpstreamTarget& target,
                                            const CompiledService& service);
  asio::awaitable<Sent> sendRequest(milliseconds upstream_timeout, bool expect_continue,
                                    bool chunked);
  asio::awaitable<bool> relayResponse(bool keep_alive, milliseconds upstream_timeout);
  // An aggregate route: every backend at once, their JSON answers merged in the listed order.
  asio::awaitable<bool> aggregate(bool keep_alive);
  // The upstream agreed to an upgrade (101): the head goes to the client, then bytes flow both
  // ways until either side closes or neither sends anything for `idle_timeout`. The connection
  // is not HTTP any more: returns false.
  asio::awaitable<bool> tunnel(milliseconds idle_timeout);
  // One direction of a tunnel: what `from` sends goes to `to` through `buffer`, counted in
  // `moved`, until `from` closes or either side fails.
  asio::awaitable<void> pump(ByteStream& from, ByteStream& to, asio::mutable_buffer buffer,
                             milliseconds idle_timeout, uint64_t& moved);
  // The upstream failed in the response body: an answer when nothing was sent yet, else the
  // client connection is cut. Returns whether the client connection can be reused.
  asio::awaitable<bool> responseBodyFailed(boost::system::error_code ec, bool head_sent,
                                           milliseconds upstream_timeout);
  // The response head for the client into client_head_: the upstream's fields, `framing` (with
  // `content_length` for kContentLength), RateLimit-* and the route's response header edits.
  // Not in relayResponse()'s body, so that its locals stay out of the coroutine frame.
  void renderClientHead(BodyFraming framing, uint64_t content_length, bool keep_alive);
  // Puts the upstream connection back in the pool when `reusable` and nothing unread is left.
  void releaseUpstream(bool reusable);
  // spliceBody() from `source` to `sink`, arming the deadline of the side it waits on.
  asio::awaitable<SpliceResult> splice(tcp::socket& source, Phase source_phase,
                                       milliseconds source_timeout, tcp::socket& sink,
                                       Phase sink_phase, milliseconds sink_timeout,
                                       uint64_t length);
  // A request body that could not be read: answers 408/413/400 when there is something to
  // say (else status 499), and the connection is not reused.
  asio::awaitable<Sent> clientBodyFailed(boost::system::error_code ec);
  asio::awaitable<void> lingeringClose();
  char* chunk();

  Worker& worker_;
  const ProxyOptions& options_;
  ByteStream client_;
  tls::TlsListener* const tls_;  // null: the plain listener
  std::string client_ip_;
  std::string client_cert_fields_;  // X-Client-Cert-* lines, once the handshake verified one
  beast::flat_buffer in_;
  std::optional<RequestParser> request_;
  std::optional<ResponseParser> response_;
  std::unique_ptr<upstream::UpstreamConnection> upstream_;
  std::optional<tcp::resolver> resolver_;
  std::unique_ptr<char[]> chunk_;  // 64 KiB body relay buffer, made on first use
  SplicePipe pipe_;                // for large bodies, opened on first use
  std::string wire_;               // the proxy's own answers
  std::string upstream_head_;      // the request head sent upstream
  std::string client_head_;        // the response head sent to the client
  std::string transform_body_;     // a response body held for response_transform.json
  Phase phase_ = Phase::kIdle;
  bool expired_ = false;
  bool close_after_ = false;   // unread request bytes: the connection cannot be reused
  bool request_read_ = false;  // the whole request body was read (parser or BodySource)

  // Per request; strings keep their capacity from one request to the next.
  pipeline::Exchange x_;
  bool keep_alive_ = false;  // the client wants to keep the connection
  bool expect_continue_ = false;
  bool head_ = false;
  unsigned request_version_ = 11;
  std::string_view upgrade_;  // the protocols a passed-on Upgrade asks for (empty: none)
  bool alpn_h2_ = false;      // the connection speaks HTTP/2 (ALPN or the h2c preface)
};

char* Session::chunk() {
  if (!chunk_) chunk_ = std::make_unique<char[]>(kChunkSize);
  return chunk_.get();
}

asio::awaitable<void> Session::run() {
  try {
    // A TLS connection's buffer is made once its handshake is done: one that never finishes it
    // costs only its TLS state.
    if (tls_ != nullptr && !co_await handshake()) {
      disarm();
      co_return;
    }
    in_.reserve(kInitialBuffer);
    // HTTP/2: chosen by ALPN in the handshake, or (h2c with prior knowledge) by the connection's
    // first bytes; HTTP/1.1 otherwise.
    if (!alpn_h2_) {
      arm(Phase::kIdle, options_.idle_timeout);
      http2::Preface preface = http2::Preface::kNeedMore;
      while (preface == http2::Preface::kNeedMore) {
        auto [ec, n] = co_await client_.async_read_some(in_.prepare(kInitialBuffer), kTuple);
        if (ec) {
          disarm();
          co_return;
        }
        in_.commit(n);
        const auto bytes = in_.data();
        preface = http2::matchPreface(
            std::string_view(static_cast<const char*>(bytes.data()), bytes.size()));
      }
      alpn_h2_ = preface == http2::Preface::kYes;
    }
    if (alpn_h2_) {
      disarm();
      const auto bytes = in_.data();
      co_await http2::serveConnection(
          worker_, client_, std::string_view(static_cast<const char*>(bytes.data()), bytes.size()),
          {.client_ip = client_ip_,
           .tls = tls_ != nullptr,
           .client_cert_fields = client_cert_fields_});
      in_.clear();
      co_await lingeringClose();
      disarm();
      co_return;
    }
    for (;;) {
      // The next request's headers, read here rather than in a coroutine of their own: a frame
      // less per request. On a malformed, oversized or slow request refuseRequestHeader()
      // answers 400/413/431/408 when there is something to say; a clean close ends quietly.
      if (in_.size() == 0) {
        // Between requests: wait for the first byte under the idle timeout.
        arm(Phase::kIdle, options_.idle_timeout);
        auto [ec, n] = co_await client_.async_read_some(in_.prepare(kInitialBuffer), kTuple);
        if (ec) break;
        in_.commit(n);
      }
      HttpReadSteps<true> steps(startRequestHeader(), ReadGoal::kHeader);
      std::optional<boost::system::error_code> done = steps.parse(in_);
      while (!done) {
        auto [read_ec, n] =
            co_await client_.async_read_some(in_.prepare(steps.readSize(in_)), kTuple);
        done = steps.read(in_, read_ec, n);
      }
      if (*done) {
        co_await refuseRequestHeader(*done);
        break;
      }
      startRequest();
      const bool keep_alive = co_await exchange();
      x_.record(worker_);
      if (!keep_alive || close_after_ || worker_.draining()) break;
    }
    co_await lingeringClose();
  } catch (const std::exception& e) {
    spdlog::error("{}: connection from {} failed: {}", worker_.name(), client_ip_, e.what());
  }
  disarm();
}

RequestParser& Session::startRequestHeader() {
  arm(Phase::kHeaders, options_.header_timeout);
  RequestParser& parser = recycleParser(request_);
  parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
  if (options_.max_body_bytes > 0) {
    parser.body_limit(options_.max_body_bytes);
  } else {
    parser.body_limit(boost::none);
  }
  return parser;
}

asio::awaitable<void> Session::refuseRequestHeader(boost::system::error_code ec) {
  // A request that never finished its headers: answer when there is something to say.
  x_.start(worker_);
  worker_.requestIds().next(x_.request_id);
  x_.method.clear();
  x_.host.clear();
  x_.path.clear();
  head_ = false;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == asio::error::eof) {
    co_return;
  }
  ProxyAnswer problem;
  std::string detail;
  if (expired_) {
    problem.status = 408;
    problem.detail = "the request headers did not arrive in time";
  } else if (ec == http::error::header_limit) {
    problem.status = 431;
    detail = "the request line and headers exceed " + std::to_string(options_.max_header_bytes) +
             " bytes";
    problem.detail = detail;
  } else if (ec == http::error::body_limit) {
    problem.status = 413;
    detail = "the request body exceeds " + std::to_string(options_.max_body_bytes) + " bytes";
    problem.detail = detail;
  } else if (isHttpParseError(ec)) {
    problem.status = 400;
    detail = "malformed request: " + ec.message();
    problem.detail = detail;
  } else {
    co_return;  // reset, cancelled: nobody to answer
  }
  close_after_ = true;
  co_await answer(std::move(problem), false);
  x_.record(worker_);
}

std::optional<Session::Refusal> Session::admit() {
  RequestParser& parser = *request_;
  auto& request = parser.get();
  head_ = request.method() == http::verb::head;
  request_version_ = request.version();
  x_.method.assign(request.method_string());
  x_.path.clear();
  x_.host.clear();
  x_.protocol = request_version_ == 10 ? "HTTP/1.0" : "HTTP/1.1";
  const RequestFieldFacts facts = scanRequestFields(request.fields());
  if (isAcceptableRequestId(facts.request_id)) {
    x_.request_id.assign(facts.request_id);
  } else {
    worker_.requestIds().next(x_.request_id);
  }
  keep_alive_ = keepsAlive(request.fields(), request.version()) && !worker_.draining();

  if (facts.hosts > 1) {
    return Refusal{{.status = 400, .detail = "the request has more than one Host header"}, false};
  }
  if (facts.hosts == 0 && request.version() >= 11) {
    return Refusal{{.status = 400, .detail = "HTTP/1.1 requests need a Host header"}, false};
  }
  // RFC 9112 §6.3: a request whose transfer codings do not end in chunked has no length
  // anyone can agree on (Beast would read it as bodiless and the body as the next request).
  if (!parser.chunked() && facts.transfer_encoding) {
    return Refusal{
        {.status = 400, .detail = "the request's Transfer-Encoding does not end in chunked"},
        false};
  }
  RequestTarget target;
  RequestTargetError target_error;
  if (!parseRequestTarget(request.target(), target, target_error)) {
    return Refusal{{.status = 400, .detail = target_error.reason}, false};
  }
  if (target.authority.empty()) {
    x_.host.assign(facts.host);
  } else {
    x_.host.assign(target.authority);
  }
  x_.path.assign(target.path);
  x_.query.assign(target.query);
  x_.raw_target = request.target();
  x_.headers = HeaderView::ofFields(request.fields());
  const bool chunked = parser.chunked();
  x_.framing = chunked                               ? BodyFraming::kChunked
               : parser.content_length().has_value() ? BodyFraming::kContentLength
                                                     : BodyFraming::kNone;
  x_.content_length = parser.content_length().value_or(0);
  expect_continue_ = facts.expect_continue && request.version() >= 11;
  // An upgrade (WebSocket) is passed on when the request asks for it as RFC 9110 §7.8 says, in
  // HTTP/1.1, without a body to read first; h2c is ours to offer, not the upstream's.
  upgrade_ = {};
  if (facts.connection_upgrade && !facts.upgrade.empty() && request.version() >= 11 &&
      parser.is_done() && !hasToken(facts.upgrade, "h2c")) {
    upgrade_ = facts.upgrade;
  }
  if (std::optional<ProxyAnswer> refused = pipeline::admit(worker_, x_)) {
    return Refusal{std::move(*refused), reusable()};
  }
  x_.upstream_request.upgrade = upgrade_;
  return std::nullopt;
}

asio::awaitable<bool> Session::exchange() {
  // The synchronous part is admit(), so that this coroutine's frame stays under the 1,020 bytes
  // Asio's per-thread allocator recycles: a bigger frame is a malloc and a free per request.
  if (std::optional<Refusal> refused = admit()) {
    co_return co_await answer(std::move(refused->answer), refused->keep_alive);
  }
  if (x_.route->isAggregate()) co_return co_await aggregate(reusable());
  RequestParser& parser = *request_;
  auto& request = parser.get();
  const CompiledService& service = *x_.route->service;
  const bool chunked = parser.chunked();
  uint64_t tried = 0;
  int retries_left = service.retries;
  // The last failure, answered once no target is left to try. Every failure leaves the loop by
  // `break` to one answering co_await: each co_await site adds its temporaries to the frame.
  int failure_status = 0;
  std::string failure_detail;

  for (;;) {
    x_.target_index = x_.balancer->pick(x_.hash_key, coarseNow(), tried);
    if (!x_.target_index) {
      if (failure_status != 0) break;
      x_.refusal_detail = "no healthy target for service " + service.name();
      co_return co_await answer({.status = 503, .detail = x_.refusal_detail}, reusable());
    }
    const std::size_t index = *x_.target_index;
    x_.picked_generation = x_.balancer->generation();
    x_.target = x_.balancer->target(index);  // a copy: see currentIndex()
    if (index < 64) tried |= uint64_t{1} << index;

    upstream_ = worker_.pool().take(x_.target.poolKey());
    const bool reused = upstream_ != nullptr;
    if (reused && !x_.retryable && upstream::ConnectionPool::isClosedByPeer(*upstream_)) {
      upstream_.reset();
    }
    x_.called_upstream = true;
    const auto upstream_started = Clock::now();
    if (!upstream_) {
      upstream::Opened opened = co_await connect(x_.target, service);
      if (opened.ec) {
        x_.reportFailure();
        failure_status = expired_ ? 504 : 502;
        failure_detail =
            expired_ ? "connecting to " + x_.target.url + " timed out" : std::move(opened.detail);
        upstream_.reset();
        if (retries_left-- > 0) continue;
        break;
      }
    }
    x_.upstream_request.host = x_.route->preserveHost() && !x_.host.empty()
                                   ? std::string_view(x_.host)
                                   : x_.target.authority;
    upstream_head_.clear();
    appendUpstreamRequestHead(request.fields(), x_.upstream_request, upstream_head_);

    x_.balancer->onRequestStart(index);
    struct InFlight {
      pipeline::Exchange& exchange;
      ~InFlight() {
        if (auto current = exchange.currentIndex()) exchange.balancer->onRequestEnd(*current);
      }
    } in_flight{x_};

    Sent sent = Sent::kOk;
    if (parser.is_done()) {
      // No body: the head alone, without sendRequest()'s coroutine frame when the socket takes
      // it at once (as it nearly always does).
      request_read_ = true;
      arm(Phase::kUpstream, service.read_timeout);
      Written written = sendNow(upstream_->stream, asio::buffer(upstream_head_));
      if (written.rest) {
        written = co_await sendRest(upstream_->stream, asio::buffer(upstream_head_), written.bytes);
      }
      if (written.ec) sent = Sent::kUpstreamFailed;
    } else {
      sent = co_await sendRequest(service.read_timeout, expect_continue_, chunked);
    }
    if (sent == Sent::kClientFailed) {
      upstream_.reset();
      co_return false;  // the client went away or broke its body; x_.status says how
    }
    if (sent == Sent::kUpstreamFailed) {
      const bool timed_out = expired_;
      upstream_.reset();
      if (reused && x_.retryable && !timed_out) {
        // A stale pooled connection: try the next one, or a fresh one once the pool has none
        // (an upstream that restarted closed them all). Bounded by the pool's size.
        tried &= ~(index < 64 ? uint64_t{1} << index : 0);
        continue;
      }
      x_.reportFailure();
      failure_status = timed_out ? 504 : 502;
      failure_detail = timed_out ? "sending the request to " + x_.target.url + " timed out"
                                 : "the upstream " + x_.target.url + " closed the connection";
      break;
    }

    // The response headers (1xx interim responses are skipped: Expect was not forwarded).
    boost::system::error_code ec;
    for (;;) {
      ResponseParser& response = recycleParser(response_);
      response.header_limit(kMaxUpstreamHeaderBytes);
      response.body_limit(boost::none);
      if (head_) response.skip(true);
      arm(Phase::kUpstream, service.read_timeout);
      // readHttp()'s loop, here: a coroutine frame less per request.
      HttpReadSteps<false> steps(response, ReadGoal::kHeader);
      std::optional<boost::system::error_code> done = steps.parse(upstream_->buffer);
      while (!done) {
        auto [read_ec, n] = co_await upstream_->stream.async_read_some(
            upstream_->buffer.prepare(steps.readSize(upstream_->buffer)), kTuple);
        done = steps.read(upstream_->buffer, read_ec, n);
      }
      ec = *done;
      if (ec || response.get().result_int() / 100 != 1 || response.get().result_int() == 101) {
        break;
      }
    }
    if (ec) {
      const bool timed_out = expired_;
      const bool nothing_received = !response_->got_some() && upstream_->buffer.size() == 0;
      upstream_.reset();
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
    x_.upstream_duration = duration_cast<microseconds>(Clock::now() - upstream_started);
    if (response_->get().result_int() == 101 && upgrade_.empty()) {
      // Switching to a protocol nobody asked for: the client could not read what follows.
      upstream_.reset();
      x_.reportFailure();
      failure_status = 502;
      failure_detail = "the upstream " + x_.target.url + " switched protocols unasked";
      break;
    }
    x_.reportSuccess();
    if (response_->get().result_int() == 101) co_return co_await tunnel(service.idle_timeout);
    co_return co_await relayResponse(keep_alive_, service.read_timeout);
  }
  co_return co_await answerFromUpstreamError(failure_status, std::move(failure_detail));
}

asio::awaitable<upstream::Opened> Session::connect(const UpstreamTarget& target,
                                                   const CompiledService& service) {
  upstream_ = std::make_unique<upstream::UpstreamConnection>(client_.get_executor());
  upstream_->key = target.poolKey();
  upstream_->buffer.reserve(kInitialBuffer);
  arm(Phase::kConnect, service.connect_timeout);
  co_return co_await upstream::openUpstream(*upstream_, target, service.tls.get(), resolver_);
}

asio::awaitable<Session::Sent> Session::sendRequest(milliseconds upstream_timeout,
                                                    bool expect_continue, bool chunked) {
  RequestParser& parser = *request_;
  BodySource<true> body(parser);
  bool continue_sent = false;
  bool head_sent = false;
  for (;;) {
    if (const uint64_t rest = body.unbuffered(in_); head_sent && rest > kSpliceAbove && splices()) {
      const SpliceResult spliced =
          co_await splice(client_.socket(), Phase::kClientIo, options_.client_io_timeout,
                          upstream_->socket(), Phase::kUpstream, upstream_timeout, rest);
      if (!spliced.ec) {
        body.moved(rest);
        request_read_ = true;
        co_return Sent::kOk;
      }
      if (!spliced.source_failed) co_return Sent::kUpstreamFailed;
      co_return co_await clientBodyFailed(spliced.ec);
    }
    std::size_t piece = 0;
    if (!body.done()) {
      if (expect_continue && !continue_sent && in_.size() == 0) {
        // The client waits for our go-ahead before it sends the body.
        continue_sent = true;
        arm(Phase::kClientIo, options_.client_io_timeout);
        auto [ec, n] = co_await writeAll(client_, asio::buffer(kContinue));
        if (ec) co_return Sent::kClientFailed;
      }
      arm(Phase::kClientIo, options_.client_io_timeout);
      auto [ec, n] = co_await body.next(client_, in_, chunk(), kChunkSize);
      if (ec) co_return co_await clientBodyFailed(ec);
      piece = n;
    }
    request_read_ = body.done();
    const bool last = request_read_;
    BodyPiece buffers(head_sent ? std::string_view() : std::string_view(upstream_head_),
                      chunk_.get(), piece, chunked, last);
    head_sent = true;
    arm(Phase::kUpstream, upstream_timeout);
    // Two steps instead of writeAll(): no coroutine call when the socket takes it all at once.
    Written written = sendNow(upstream_->stream, buffers.buffers());
    if (written.rest) {
      written = co_await sendRest(upstream_->stream, buffers.buffers(), written.bytes);
    }
    if (written.ec) co_return Sent::kUpstreamFailed;
    if (last) co_return Sent::kOk;
  }
}

asio::awaitable<SpliceResult> Session::splice(tcp::socket& source, Phase source_phase,
                                              milliseconds source_timeout, tcp::socket& sink,
                                              Phase sink_phase, milliseconds sink_timeout,
                                              uint64_t length) {
  co_return co_await spliceBody(source, sink, pipe_, length, [&](SpliceWait wait) {
    if (wait == SpliceWait::kSource) {
      arm(source_phase, source_timeout);
    } else {
      arm(sink_phase, sink_timeout);
    }
  });
}

asio::awaitable<Session::Sent> Session::clientBodyFailed(boost::system::error_code ec) {
  close_after_ = true;
  if (expired_) {
    co_await answer({.status = 408, .detail = "the request body did not arrive in time"}, false);
  } else if (ec == http::error::body_limit) {
    std::string detail =
        "the request body exceeds " + std::to_string(options_.max_body_bytes) + " bytes";
    co_await answer({.status = 413, .detail = detail}, false);
  } else if (isHttpParseError(ec) && ec != http::error::partial_message &&
             ec != http::error::end_of_stream) {
    std::string detail = "malformed request body: " + ec.message();
    co_await answer({.status = 400, .detail = detail}, false);
  } else {
    x_.status = 499;  // the client closed the connection (nginx's convention)
  }
  co_return Sent::kClientFailed;
}

asio::awaitable<bool> Session::relayResponse(bool keep_alive, milliseconds upstream_timeout) {
  ResponseParser& parser = *response_;
  auto& response = parser.get();
  x_.status = static_cast<int>(response.result_int());
  const bool chunked = parser.chunked();
  const auto content_length = parser.content_length();
  const bool upstream_keep_alive = keepsAlive(response.fields(), response.version());
  const bool no_body = head_ || x_.status == 204 || x_.status == 304 || x_.status / 100 == 1;
  const bool until_eof = !no_body && !chunked && !content_length;

  // The framing the client gets: the upstream's length when it said one, else chunks (an
  // HTTP/1.0 client cannot read chunks: it reads until the connection closes).
  BodyFraming framing = BodyFraming::kNone;
  bool chunk_out = false;
  if (no_body) {
    framing = BodyFraming::kAsReceived;
  } else if (content_length && !chunked) {
    framing = BodyFraming::kContentLength;
  } else if (request_version_ >= 11) {
    framing = BodyFraming::kChunked;
    chunk_out = true;
  } else {
    keep_alive = false;
  }
  renderClientHead(framing, content_length.value_or(0), keep_alive);
  const policy::CompiledResponseTransform* transform = x_.route->response_transform.get();

  BodySource<false> body(parser);
  bool head_sent = false;
  if (transform != nullptr && transform->json() != nullptr && !no_body &&
      reshapesJson(response, content_length, *transform)) {
    // The whole body first (at most max_body_bytes), then reshaped and sent with its length.
    transform_body_.clear();
    while (!body.done() && transform_body_.size() <= transform->maxBodyBytes()) {
      arm(Phase::kUpstream, upstream_timeout);
      auto [ec, n] = co_await body.next(upstream_->stream, upstream_->buffer, chunk(), kChunkSize);
      if (ec) co_return co_await responseBodyFailed(ec, false, upstream_timeout);
      transform_body_.append(chunk_.get(), n);
    }
    if (body.done() && transform_body_.size() <= transform->maxBodyBytes()) {
      policy::reshapeJsonBody(*transform->json(), transform_body_);  // not JSON: as received
      renderClientHead(BodyFraming::kContentLength, transform_body_.size(), keep_alive);
      arm(Phase::kClientIo, options_.client_io_timeout);
      std::array<asio::const_buffer, 2> buffers = {asio::buffer(client_head_),
                                                   asio::buffer(transform_body_)};
      auto [ec, n] = co_await writeAll(client_, buffers);
      if (ec) {
        upstream_.reset();
        co_return false;
      }
      x_.bytes_sent += transform_body_.size();
      disarm();
      releaseUpstream(upstream_keep_alive && !until_eof);
      co_return keep_alive;
    }
    // Longer than the cap (a body without a length): what was read goes out as received, the
    // rest follows as usual.
    BodyPiece buffers(client_head_, transform_body_.data(), transform_body_.size(), chunk_out,
                      false);
    head_sent = true;
    arm(Phase::kClientIo, options_.client_io_timeout);
    auto [ec, n] = co_await writeAll(client_, buffers.buffers());
    if (ec) {
      upstream_.reset();
      co_return false;
    }
    x_.bytes_sent += transform_body_.size();
  }
  for (;;) {
    if (const uint64_t rest = body.unbuffered(upstream_->buffer);
        head_sent && !no_body && rest > kSpliceAbove && splices()) {
      const SpliceResult spliced =
          co_await splice(upstream_->socket(), Phase::kUpstream, upstream_timeout, client_.socket(),
                          Phase::kClientIo, options_.client_io_timeout, rest);
      x_.bytes_sent += spliced.moved;
      if (spliced.ec) {
        if (spliced.source_failed) {
          spdlog::warn("{}: upstream {} failed in the response body: {}", worker_.name(),
                       x_.target.url, spliced.ec.message());
        }
        upstream_.reset();
        co_return false;
      }
      body.moved(rest);
      break;
    }
    std::size_t piece = 0;
    if (!no_body && !body.done()) {
      arm(Phase::kUpstream, upstream_timeout);
      // A small body usually came with the head: taken without next()'s coroutine frame.
      if (const std::optional<std::size_t> buffered =
              body.takeBuffered(upstream_->buffer, chunk(), kChunkSize)) {
        piece = *buffered;
      } else {
        auto [ec, n] =
            co_await body.next(upstream_->stream, upstream_->buffer, chunk(), kChunkSize);
        if (ec) co_return co_await responseBodyFailed(ec, head_sent, upstream_timeout);
        piece = n;
      }
    }
    const bool last = no_body || body.done();
    BodyPiece buffers(head_sent ? std::string_view() : std::string_view(client_head_), chunk_.get(),
                      piece, chunk_out, last);
    head_sent = true;
    arm(Phase::kClientIo, options_.client_io_timeout);
    // Two steps instead of writeAll(): no coroutine call when the socket takes it all at once.
    Written written = sendNow(client_, buffers.buffers());
    if (written.rest) written = co_await sendRest(client_, buffers.buffers(), written.bytes);
    if (written.ec) {
      upstream_.reset();
      co_return false;
    }
    x_.bytes_sent += piece;
    if (last) break;
  }
  disarm();
  releaseUpstream((no_body || body.done()) && upstream_keep_alive && !until_eof);
  co_return keep_alive;
}

asio::awaitable<bool> Session::aggregate(bool keep_alive) {
  disarm();  // each backend has its own deadline, bounded by the aggregate's timeout_ms
  pipeline::AggregateResult result;
  co_await pipeline::runAggregate(worker_, x_, result);
  if (result.problem) co_return co_await answer(std::move(*result.problem), keep_alive);

  transform_body_ = std::move(result.body);
  const policy::CompiledResponseTransform* response_transform = x_.route->response_transform.get();
  Fields fields;
  fields.set(http::field::content_type, "application/json");
  fields.set("X-Turnpike-Complete", result.complete ? "true" : "false");
  x_.status = 200;
  ClientResponseHead head{
      .status = 200,
      .framing = BodyFraming::kContentLength,
      .content_length = transform_body_.size(),
      .keep_alive = keep_alive,
      .http10_client = request_version_ < 11,
      .request_id = x_.request_id,
      .edits = response_transform != nullptr ? &response_transform->headers() : nullptr};
  pipeline::Exchange::RateLimitLines rate_limit_lines;
  head.extra_fields = x_.rateLimitLines(rate_limit_lines);
  client_head_.clear();
  appendClientResponseHead(fields, head, client_head_);
  arm(Phase::kClientIo, options_.client_io_timeout);
  std::array<asio::const_buffer, 2> buffers = {
      asio::buffer(client_head_), head_ ? asio::const_buffer() : asio::buffer(transform_body_)};
  auto [ec, n] = co_await writeAll(client_, buffers);
  disarm();
  if (ec) co_return false;
  if (!head_) x_.bytes_sent += transform_body_.size();
  co_return keep_alive;
}

asio::awaitable<bool> Session::tunnel(milliseconds idle_timeout) {
  const auto& response = response_->get();
  x_.status = 101;
  ClientResponseHead head{
      .status = 101, .reason = response.reason(), .request_id = x_.request_id, .upgrade = true};
  pipeline::Exchange::RateLimitLines rate_limit_lines;
  head.extra_fields = x_.rateLimitLines(rate_limit_lines);
  if (const auto* transform = x_.route->response_transform.get()) {
    head.edits = &transform->headers();
  }
  client_head_.clear();
  appendClientResponseHead(response.fields(), head, client_head_);
  close_after_ = true;

  // What either side sent past its head already belongs to the tunnel.
  arm(Phase::kTunnel, idle_timeout);
  const std::size_t early_down = upstream_->buffer.size();
  std::array<asio::const_buffer, 2> first = {asio::buffer(client_head_), upstream_->buffer.data()};
  auto [ec, n] = co_await writeAll(client_, first);
  if (ec) co_return false;
  upstream_->buffer.consume(early_down);
  x_.bytes_sent = early_down;
  if (in_.size() > 0) {
    const std::size_t early_up = in_.size();
    auto [up_ec, up_n] = co_await writeAll(upstream_->stream, in_.data());
    if (up_ec) co_return false;
    in_.consume(early_up);
    x_.bytes_received = early_up;
  }

  worker_.metrics().tunnelOpened();
  // Upstream to client in a coroutine of its own, client to upstream here. Whichever side
  // closes first ends both (as nginx does): the other direction's wait is cancelled, and the
  // connections close, which tells each peer.
  auto end_both = [this] {
    boost::system::error_code ignored;
    client_.socket().cancel(ignored);
    upstream_->socket().cancel(ignored);
  };
  std::size_t running = 1;
  asio::steady_timer down_done(client_.get_executor(), asio::steady_timer::time_point::max());
  asio::co_spawn(
      client_.get_executor(),
      [&]() -> asio::awaitable<void> {
        co_await pump(upstream_->stream, client_, asio::buffer(chunk(), kChunkSize), idle_timeout,
                      x_.bytes_sent);
        end_both();
        --running;
        down_done.cancel();
      },
      asio::detached);
  in_.clear();
  co_await pump(client_, upstream_->stream, in_.prepare(kInitialBuffer), idle_timeout,
                x_.bytes_received);
  end_both();
  while (running > 0) co_await down_done.async_wait(kTuple);
  worker_.metrics().tunnelClosed();
  upstream_.reset();
  disarm();
  co_return false;
}

asio::awaitable<void> Session::pump(ByteStream& from, ByteStream& to, asio::mutable_buffer buffer,
                                    milliseconds idle_timeout, uint64_t& moved) {
  for (;;) {
    auto [read_ec, n] = co_await from.async_read_some(buffer, kTuple);
    if (read_ec) co_return;
    arm(Phase::kTunnel, idle_timeout);
    auto [write_ec, written] = co_await writeAll(to, asio::buffer(buffer.data(), n));
    if (write_ec) co_return;
    moved += n;
    arm(Phase::kTunnel, idle_timeout);
  }
}

void Session::renderClientHead(BodyFraming framing, uint64_t content_length, bool keep_alive) {
  const auto& response = response_->get();
  ClientResponseHead head{.status = response.result_int(),
                          .reason = response.reason(),
                          .framing = framing,
                          .content_length = content_length,
                          .keep_alive = keep_alive,
                          .http10_client = request_version_ < 11,
                          .request_id = x_.request_id};
  pipeline::Exchange::RateLimitLines rate_limit_lines;
  head.extra_fields = x_.rateLimitLines(rate_limit_lines);
  if (const auto* transform = x_.route->response_transform.get())
    head.edits = &transform->headers();
  client_head_.clear();
  appendClientResponseHead(response.fields(), head, client_head_);
}

void Session::releaseUpstream(bool reusable) {
  if (reusable && upstream_->buffer.size() == 0) {
    ++upstream_->requests;
    worker_.pool().put(std::move(upstream_), coarseNow());
  } else {
    upstream_.reset();
  }
}

asio::awaitable<bool> Session::responseBodyFailed(boost::system::error_code ec, bool head_sent,
                                                  milliseconds upstream_timeout) {
  spdlog::warn("{}: upstream {} failed in the response body: {}", worker_.name(), x_.target.url,
               ec.message());
  const bool timed_out = expired_;
  upstream_.reset();
  if (!head_sent) {
    // Nothing reached the client yet: it gets an answer, not a closed connection.
    std::string detail =
        timed_out ? "the upstream " + x_.target.url + " sent no body within " +
                        std::to_string(upstream_timeout.count()) + " ms"
                  : "the upstream " + x_.target.url + " sent a malformed body: " + ec.message();
    co_return co_await answerFromUpstreamError(timed_out ? 504 : 502, std::move(detail));
  }
  // The head is out: all we can do is cut the client off so it sees a short body.
  co_return false;
}

asio::awaitable<bool> Session::answer(ProxyAnswer problem, bool keep_alive) {
  x_.status = problem.status;
  wire_.clear();
  renderProblem(problem, x_.request_id, keep_alive, head_, wire_);
  arm(Phase::kClientIo, options_.client_io_timeout);
  auto [ec, n] = co_await writeAll(client_, asio::buffer(wire_));
  x_.bytes_sent = n;
  if (!keep_alive) close_after_ = true;
  co_return !ec && keep_alive;
}

asio::awaitable<bool> Session::answerFromUpstreamError(int status, std::string detail) {
  // The request body may be half-consumed: the connection cannot carry another request.
  const auto& request = request_->get();
  const bool keep_alive = (request_->is_done() || request_read_) &&
                          keepsAlive(request.fields(), request.version()) && !worker_.draining();
  co_return co_await answer({.status = status, .detail = detail}, keep_alive);
}

asio::awaitable<void> Session::lingeringClose() {
  boost::system::error_code ec;
  if (client_.isTls()) {
    // close_notify, so that the client can tell our close from a cut; then the TCP close.
    arm(Phase::kClientIo, kLingerTime);
    co_await client_.tlsShutdown(kTuple);
    disarm();
    client_.socket().close(ec);
    co_return;
  }
  client_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  // Read what the client still sends (an unread body) for a moment, so that closing does not
  // reset the connection before our last answer reached it.
  arm(Phase::kClientIo, kLingerTime);
  std::size_t drained = 0;
  while (drained < kLingerBytes) {
    in_.clear();
    auto [read_ec, n] = co_await client_.async_read_some(in_.prepare(kInitialBuffer), kTuple);
    if (read_ec) break;
    drained += n;
  }
  disarm();
  client_.socket().close(ec);
}

asio::awaitable<bool> Session::handshake() {
  arm(Phase::kHeaders, options_.header_timeout);
  // Nothing is allocated for TLS until the client says something: a crowd of idle connections
  // costs their sockets and sessions only.
  auto [wait_ec] = co_await client_.socket().async_wait(tcp::socket::wait_read, kTuple);
  if (wait_ec) co_return false;
  // The certificates of the snapshot current now, held until the handshake is over.
  const SnapshotConstSharedPtr pinned = worker_.snapshot();
  SSL* ssl = tls_->newConnection(pinned->certificates().get());
  if (ssl == nullptr) co_return false;
  client_.startTls(ssl, ByteStream::Role::kServer);
  auto [ec] = co_await client_.handshake(kTuple);
  if (ec) {
    worker_.metrics().recordTlsHandshake(false);
    spdlog::debug("{}: TLS handshake with {} failed: {}", worker_.name(), client_ip_,
                  expired_ ? std::string("timed out") : ec.message());
    co_return false;
  }
  worker_.metrics().recordTlsHandshake(true);
  if (X509* peer = SSL_get0_peer_certificate(ssl);
      peer != nullptr && SSL_get_verify_result(ssl) == X509_V_OK) {
    client_cert_fields_ = clientCertificateFields(peer);
    x_.client_cert_fields = client_cert_fields_;
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_size = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_size);
  alpn_h2_ = std::string_view(reinterpret_cast<const char*>(alpn), alpn_size) == "h2";
  co_return true;
}

}  // namespace

asio::awaitable<void> serveConnection(Worker& worker, tcp::socket socket, tls::TlsListener* tls) {
  Session session(worker, std::move(socket), tls);
  co_await session.run();
}

}  // namespace turnpike::proxy::http1
