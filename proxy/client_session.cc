#include "proxy/client_session.h"

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
#include "model/json_depth.h"
#include "proxy/access_log.h"
#include "proxy/backend_call.h"
#include "proxy/byte_stream.h"
#include "proxy/coarse_clock.h"
#include "proxy/header_rewrite.h"
#include "proxy/http_read.h"
#include "proxy/policy/json_shape.h"
#include "proxy/policy/key_auth.h"
#include "proxy/policy/rate_limiter.h"
#include "proxy/proxy_answer.h"
#include "proxy/request_target.h"
#include "proxy/router.h"
#include "proxy/socket_write.h"
#include "proxy/splice_relay.h"
#include "proxy/tls/certificate_table.h"
#include "proxy/tls/tls_listener.h"
#include "proxy/upstream/upstream_connect.h"
#include "proxy/worker.h"

namespace turnpike::proxy {

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
  bool expect_continue = false;  // Expect: 100-continue
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
enum class Phase : uint8_t { kIdle, kHeaders, kClientIo, kConnect, kUpstream };

bool isHttpParseError(const boost::system::error_code& ec) {
  return &ec.category() == &http::make_error_code(http::error::bad_method).category();
}

// One backend of an aggregate: its answer into `out`; the last one to finish wakes the session.
asio::awaitable<void> runBackend(Worker& worker, BackendCall call, BackendAnswer& out,
                                 std::size_t& pending, asio::steady_timer& all_done) {
  try {
    out = co_await callBackend(worker, call);
  } catch (const std::exception& e) {
    out.error = std::string("internal error: ") + e.what();
  }
  if (--pending == 0) all_done.cancel();
}

// Why a backend's answer cannot be merged, or "" after parsing it into `doc` and applying the
// backend's shape.
std::string unusable(const BackendAnswer& answer, const CompiledBackend& backend,
                     nlohmann::json& doc) {
  if (!answer.error.empty()) return answer.error;
  if (answer.status / 100 != 2) return "answered " + std::to_string(answer.status);
  if (!answer.content_encoding.empty() && !beast::iequals(answer.content_encoding, "identity")) {
    return "answered with Content-Encoding " + answer.content_encoding;
  }
  if (model::jsonNestsDeeperThan(answer.body, model::kMaxJsonDepth)) {
    return "answered JSON nested too deeply";
  }
  doc = nlohmann::json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return "answered a body that is not JSON";
  if (backend.def->group.empty() && !doc.is_object()) {
    return std::string("answered a JSON ") + doc.type_name() + ", which needs a group to be merged";
  }
  backend.json.apply(doc);
  return "";
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
  void startRequest();
  asio::awaitable<bool> exchange();
  // The TLS handshake of a TLS listener's connection; false when it failed (the connection is
  // then closed without a word: there is no HTTP to answer in).
  asio::awaitable<bool> handshake();
  // An answer of the proxy's own instead of going upstream. answer.detail views a literal or
  // refusal_detail_.
  struct Refusal {
    ProxyAnswer answer;
    bool keep_alive = false;
  };
  // The request's checks, routing and policies, before anything is sent upstream: sets match_,
  // route_ and what the upstream exchange needs (upstream_request_, hash_key_, balancer_...).
  // Synchronous, so that exchange()'s coroutine frame stays small.
  std::optional<Refusal> admit();
  // 308 to the TLS listener for a plain request to a route without "http" in its protocols.
  Refusal redirectToHttps();
  // Whether our own answer can keep the connection: no request body is left unread.
  bool reusable() const { return keep_alive_ && request_->is_done(); }
  asio::awaitable<bool> answer(ProxyAnswer answer, bool keep_alive);
  // Authentication, ACL and rate limits for the matched route. Returns the answer to send when a
  // policy refuses the request, or nullopt to go on upstream.
  std::optional<ProxyAnswer> applyPolicies(const HeaderView& headers, std::string_view& hide_header,
                                           std::string_view& hide_query);
  void appendRateLimitHeaders(std::vector<std::pair<std::string_view, std::string>>& headers) const;
  // The RateLimit-* lines of the tightest policy, when one applied, as `head`'s extra fields
  // (kept in `storage`, which must outlive `head`), written in one pass: three appendField()
  // calls cost twice as much.
  struct RateLimitFields {
    // The three names (55 bytes), three int64 values (at most 20 characters each), CRLFs.
    std::array<char, 128> text;
  };
  void addRateLimitFields(ClientResponseHead& head, RateLimitFields& storage) const {
    if (!rate_limit_) return;
    char* out = storage.text.data();
    auto line = [&out](std::string_view name, int64_t value) {
      std::memcpy(out, name.data(), name.size());
      out = std::to_chars(out + name.size(), out + name.size() + 20, value).ptr;
      *out++ = '\r';
      *out++ = '\n';
    };
    line("RateLimit-Limit: ", rate_limit_->limit);
    line("RateLimit-Remaining: ", rate_limit_->remaining);
    line("RateLimit-Reset: ", rate_limit_->reset_s);
    head.extra_fields =
        std::string_view(storage.text.data(), static_cast<std::size_t>(out - storage.text.data()));
  }
  asio::awaitable<bool> answerFromUpstreamError(int status, std::string detail);
  // A new upstream_ to `target`, under the service's connect timeout (TLS handshake included).
  asio::awaitable<upstream::Opened> connect(const UpstreamTarget& target,
                                            const CompiledService& service);
  asio::awaitable<Sent> sendRequest(milliseconds upstream_timeout, bool expect_continue,
                                    bool chunked);
  asio::awaitable<bool> relayResponse(bool keep_alive, milliseconds upstream_timeout);
  // An aggregate route: every backend at once, their JSON answers merged in the listed order.
  asio::awaitable<bool> aggregate(const RouteMatch& match, bool keep_alive);
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
  // Whether response_transform.json reshapes this response: a 2xx JSON body, not encoded, not
  // longer than the cap by its Content-Length.
  static bool reshapes(const ParsedMessage<false>& response,
                       const boost::optional<uint64_t>& content_length,
                       const policy::CompiledResponseTransform& transform);
  // spliceBody() from `source` to `sink`, arming the deadline of the side it waits on.
  asio::awaitable<SpliceResult> splice(tcp::socket& source, Phase source_phase,
                                       milliseconds source_timeout, tcp::socket& sink,
                                       Phase sink_phase, milliseconds sink_timeout,
                                       uint64_t length);
  // A request body that could not be read: answers 408/413/400 when there is something to
  // say (else status 499), and the connection is not reused.
  asio::awaitable<Sent> clientBodyFailed(boost::system::error_code ec);
  asio::awaitable<void> lingeringClose();
  void finish();
  char* chunk();
  // The current index of the target this request uses (the balancer may have been rebound to a
  // newer snapshot while the request waited); nullopt when the target is gone.
  std::optional<std::size_t> currentIndex() const {
    if (balancer_->generation() == picked_generation_) return target_index_;
    return balancer_->indexOf(target_.url);
  }
  void reportFailure() {
    if (auto index = currentIndex()) balancer_->reportFailure(*index, Clock::now());
  }
  void reportSuccess() {
    if (auto index = currentIndex()) balancer_->reportSuccess(*index);
  }

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
  Clock::time_point started_;
  std::chrono::system_clock::time_point wall_started_;
  std::string request_id_;
  std::string method_;
  std::string host_;
  std::string path_;
  std::string query_;
  std::string upstream_target_;
  UpstreamTarget target_;  // the picked one (url empty: none yet)
  RouteMatch match_;
  UpstreamRequestHead upstream_request_;  // views into the members above and the request
  std::string hash_key_;                  // what consistent hashing picks the target by
  std::string refusal_detail_;            // a Refusal's detail, when it is not a literal
  bool keep_alive_ = false;               // the client wants to keep the connection
  bool expect_continue_ = false;
  bool retryable_ = false;  // idempotent and bodiless: another target may be tried
  SnapshotConstSharedPtr snapshot_;
  const CompiledRoute* route_ = nullptr;
  const CompiledConsumer* consumer_ = nullptr;
  std::vector<policy::RateLimitDecision> decisions_;
  std::optional<policy::RateLimitDecision> rate_limit_;  // the tightest, for RateLimit-* headers
  std::string limiter_key_;
  std::shared_ptr<upstream::ServiceBalancer> balancer_;
  std::optional<std::size_t> target_index_;
  uint64_t picked_generation_ = 0;
  int status_ = 0;
  uint64_t bytes_sent_ = 0;
  microseconds upstream_duration_{0};
  bool called_upstream_ = false;
  bool head_ = false;
  unsigned request_version_ = 11;
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
      finish();
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
  started_ = Clock::now();
  wall_started_ = worker_.wallTime(started_);
  worker_.requestIds().next(request_id_);
  method_.clear();
  host_.clear();
  path_.clear();
  route_ = nullptr;
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
  finish();
}

void Session::startRequest() {
  started_ = Clock::now();
  wall_started_ = worker_.wallTime(started_);
  status_ = 0;
  request_read_ = false;
  bytes_sent_ = 0;
  upstream_duration_ = microseconds(0);
  called_upstream_ = false;
  route_ = nullptr;
  consumer_ = nullptr;
  rate_limit_.reset();
  target_.url.clear();
  balancer_.reset();
  target_index_.reset();
}

std::optional<Session::Refusal> Session::admit() {
  RequestParser& parser = *request_;
  auto& request = parser.get();
  head_ = request.method() == http::verb::head;
  request_version_ = request.version();
  method_.assign(request.method_string());
  path_.clear();
  host_.clear();
  const RequestFieldFacts facts = scanRequestFields(request.fields());
  if (isAcceptableRequestId(facts.request_id)) {
    request_id_.assign(facts.request_id);
  } else {
    worker_.requestIds().next(request_id_);
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
    host_.assign(facts.host);
  } else {
    host_.assign(target.authority);
  }
  path_.assign(target.path);
  query_.assign(target.query);

  // Pin the snapshot for the whole request: a publish in the middle changes nothing for it.
  snapshot_ = worker_.snapshot();
  match_ = snapshot_->router().match(
      RequestView{method_, host_, path_, HeaderView::ofFields(request.fields())});
  if (!match_) {
    refusal_detail_ = "no route matches " + method_ + " " + path_;
    return Refusal{{.status = 404, .detail = refusal_detail_}, reusable()};
  }
  route_ = match_.route;
  if (tls_ == nullptr && !route_->serves_http) return redirectToHttps();
  if (tls_ != nullptr && !route_->serves_https) {
    refusal_detail_ = "route '" + std::string(route_->display_name) + "' serves plain HTTP only";
    return Refusal{{.status = 404, .detail = refusal_detail_}, reusable()};
  }

  // DESIGN.md's order: authentication, ACL, rate limits; then the upstream.
  std::string_view hide_header;
  std::string_view hide_query;
  if (auto refused =
          applyPolicies(HeaderView::ofFields(request.fields()), hide_header, hide_query)) {
    return Refusal{std::move(*refused), reusable()};
  }
  if (route_->isAggregate()) return std::nullopt;  // exchange() calls aggregate()
  const CompiledService& service = *route_->service;
  if (!hide_query.empty()) query_ = policy::removeQueryParameter(query_, hide_query);
  const policy::CompiledRequestTransform* transform = route_->request_transform.get();
  if (transform != nullptr && transform->editsQuery()) query_ = transform->rewriteQuery(query_);
  upstream_target_.clear();
  appendUpstreamTarget(match_, path_, query_, upstream_target_);
  if (transform != nullptr) transform->rewritePath(upstream_target_);

  hash_key_.clear();
  switch (service.hash_on) {
    case HashOn::kHeader:
      hash_key_.assign(request[service.hash_header]);
      break;
    case HashOn::kConsumer:
      if (consumer_) {
        hash_key_ = consumer_->def->id;
        break;
      }
      [[fallthrough]];  // anonymous callers are spread by address
    case HashOn::kIp:
      hash_key_ = client_ip_;
      break;
    case HashOn::kNone:
      break;
  }

  const bool chunked = parser.chunked();
  const bool has_length = parser.content_length().has_value();
  const bool has_body = chunked || parser.content_length().value_or(0) > 0;
  expect_continue_ = facts.expect_continue && request.version() >= 11;
  retryable_ = isIdempotentMethod(method_) && !has_body;
  // The upstream request: the client's, minus hop-by-hop fields, plus forwarding headers and
  // who is calling as Turnpike established it (a client cannot pose as a consumer). Written as
  // bytes below, once the target (and so the Host) is known.
  upstream_request_ = {
      .method = method_,
      .target = upstream_target_,
      .forwarding = {.client_ip = client_ip_,
                     .host = host_,
                     .proto = tls_ != nullptr ? "https" : "http",
                     .request_id = request_id_,
                     .client_cert_fields = client_cert_fields_},
      .hide_header = hide_header,
      .framing = chunked      ? BodyFraming::kChunked
                 : has_length ? BodyFraming::kContentLength
                              : BodyFraming::kNone,
      .content_length = parser.content_length().value_or(0),
      .edits = transform != nullptr ? &transform->headers() : nullptr,
  };
  if (consumer_) {
    upstream_request_.consumer_fields = consumer_->forwarded_fields;
  }

  balancer_ = worker_.balancer(service, snapshot_->version());
  return std::nullopt;
}

asio::awaitable<bool> Session::exchange() {
  // The synchronous part is admit(), so that this coroutine's frame stays under the 1,020 bytes
  // Asio's per-thread allocator recycles: a bigger frame is a malloc and a free per request.
  if (std::optional<Refusal> refused = admit()) {
    co_return co_await answer(std::move(refused->answer), refused->keep_alive);
  }
  if (route_->isAggregate()) co_return co_await aggregate(match_, reusable());
  RequestParser& parser = *request_;
  auto& request = parser.get();
  const CompiledService& service = *route_->service;
  const bool chunked = parser.chunked();
  uint64_t tried = 0;
  int retries_left = service.retries;
  // The last failure, answered once no target is left to try. Every failure leaves the loop by
  // `break` to one answering co_await: each co_await site adds its temporaries to the frame.
  int failure_status = 0;
  std::string failure_detail;

  for (;;) {
    target_index_ = balancer_->pick(hash_key_, coarseNow(), tried);
    if (!target_index_) {
      if (failure_status != 0) break;
      refusal_detail_ = "no healthy target for service " + service.name();
      co_return co_await answer({.status = 503, .detail = refusal_detail_}, reusable());
    }
    const std::size_t index = *target_index_;
    picked_generation_ = balancer_->generation();
    target_ = balancer_->target(index);  // a copy: see currentIndex()
    if (index < 64) tried |= uint64_t{1} << index;

    upstream_ = worker_.pool().take(target_.poolKey());
    const bool reused = upstream_ != nullptr;
    if (reused && !retryable_ && upstream::ConnectionPool::isClosedByPeer(*upstream_)) {
      upstream_.reset();
    }
    called_upstream_ = true;
    const auto upstream_started = Clock::now();
    if (!upstream_) {
      upstream::Opened opened = co_await connect(target_, service);
      if (opened.ec) {
        reportFailure();
        failure_status = expired_ ? 504 : 502;
        failure_detail =
            expired_ ? "connecting to " + target_.url + " timed out" : std::move(opened.detail);
        upstream_.reset();
        if (retries_left-- > 0) continue;
        break;
      }
    }
    upstream_request_.host =
        route_->preserveHost() && !host_.empty() ? std::string_view(host_) : target_.authority;
    upstream_head_.clear();
    appendUpstreamRequestHead(request.fields(), upstream_request_, upstream_head_);

    balancer_->onRequestStart(index);
    struct InFlight {
      Session& session;
      ~InFlight() {
        if (auto current = session.currentIndex()) session.balancer_->onRequestEnd(*current);
      }
    } in_flight{*this};

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
      co_return false;  // the client went away or broke its body; status_ says how
    }
    if (sent == Sent::kUpstreamFailed) {
      const bool timed_out = expired_;
      upstream_.reset();
      if (reused && retryable_ && !timed_out) {
        // A stale pooled connection: try the next one, or a fresh one once the pool has none
        // (an upstream that restarted closed them all). Bounded by the pool's size.
        tried &= ~(index < 64 ? uint64_t{1} << index : 0);
        continue;
      }
      reportFailure();
      failure_status = timed_out ? 504 : 502;
      failure_detail = timed_out ? "sending the request to " + target_.url + " timed out"
                                 : "the upstream " + target_.url + " closed the connection";
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
      if (reused && nothing_received && retryable_ && !timed_out) {
        tried &= ~(index < 64 ? uint64_t{1} << index : 0);
        continue;
      }
      reportFailure();
      failure_status = timed_out ? 504 : 502;
      failure_detail =
          timed_out ? "the upstream " + target_.url + " did not answer within " +
                          std::to_string(service.read_timeout.count()) + " ms"
                    : "the upstream " + target_.url + " sent no valid response: " + ec.message();
      break;
    }
    upstream_duration_ = duration_cast<microseconds>(Clock::now() - upstream_started);
    reportSuccess();
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
    status_ = 499;  // the client closed the connection (nginx's convention)
  }
  co_return Sent::kClientFailed;
}

asio::awaitable<bool> Session::relayResponse(bool keep_alive, milliseconds upstream_timeout) {
  ResponseParser& parser = *response_;
  auto& response = parser.get();
  status_ = static_cast<int>(response.result_int());
  const bool chunked = parser.chunked();
  const auto content_length = parser.content_length();
  const bool upstream_keep_alive = keepsAlive(response.fields(), response.version());
  const bool no_body = head_ || status_ == 204 || status_ == 304 || status_ / 100 == 1;
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
  const policy::CompiledResponseTransform* transform = route_->response_transform.get();

  BodySource<false> body(parser);
  bool head_sent = false;
  if (transform != nullptr && transform->json() != nullptr && !no_body &&
      reshapes(response, content_length, *transform)) {
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
      bytes_sent_ += transform_body_.size();
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
    bytes_sent_ += transform_body_.size();
  }
  for (;;) {
    if (const uint64_t rest = body.unbuffered(upstream_->buffer);
        head_sent && !no_body && rest > kSpliceAbove && splices()) {
      const SpliceResult spliced =
          co_await splice(upstream_->socket(), Phase::kUpstream, upstream_timeout, client_.socket(),
                          Phase::kClientIo, options_.client_io_timeout, rest);
      bytes_sent_ += spliced.moved;
      if (spliced.ec) {
        if (spliced.source_failed) {
          spdlog::warn("{}: upstream {} failed in the response body: {}", worker_.name(),
                       target_.url, spliced.ec.message());
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
    bytes_sent_ += piece;
    if (last) break;
  }
  disarm();
  releaseUpstream((no_body || body.done()) && upstream_keep_alive && !until_eof);
  co_return keep_alive;
}

asio::awaitable<bool> Session::aggregate(const RouteMatch& match, bool keep_alive) {
  const std::vector<CompiledBackend>& backends = route_->aggregate;
  const policy::CompiledRequestTransform* transform = route_->request_transform.get();
  const std::size_t count = backends.size();
  std::vector<std::string> targets(count);
  std::vector<BackendAnswer> answers(count);
  std::size_t pending = count;
  asio::steady_timer all_done(client_.get_executor(), asio::steady_timer::time_point::max());
  called_upstream_ = true;
  const auto started = Clock::now();
  disarm();  // each backend has its own deadline, bounded by the aggregate's timeout_ms
  for (std::size_t i = 0; i < count; ++i) {
    const model::AggregateBackend& def = *backends[i].def;
    fillBackendTarget(def.path, match.params, targets[i]);
    const bool sends_length = def.method == "POST" || def.method == "PUT" || def.method == "PATCH";
    BackendCall call{
        .service = backends[i].service,
        .head = {.method = def.method,
                 .target = targets[i],
                 .forwarding = {.client_ip = client_ip_,
                                .host = host_,
                                .proto = "http",
                                .request_id = request_id_},
                 .framing = sends_length ? BodyFraming::kContentLength : BodyFraming::kNone,
                 .edits = transform != nullptr ? &transform->headers() : nullptr},
        .timeout = backends[i].timeout,
        .version = snapshot_->version()};
    if (consumer_) {
      call.head.consumer_fields = consumer_->forwarded_fields;
    }
    asio::co_spawn(client_.get_executor(), runBackend(worker_, call, answers[i], pending, all_done),
                   asio::detached);
  }
  while (pending > 0) co_await all_done.async_wait(kTuple);
  upstream_duration_ = duration_cast<microseconds>(Clock::now() - started);

  // Merge in the listed order; collect why the others could not be used.
  std::vector<nlohmann::json> docs(count);
  std::vector<policy::AggregatePart> parts(count);
  std::string failures;  // JSON array members for the problem body
  std::string first_failure;
  std::string first_required_failure;
  std::size_t failed = 0;
  bool required_failed = false;
  bool required_timed_out = true;  // every failed required backend timed out
  bool all_timed_out = true;       // every failed backend timed out
  for (std::size_t i = 0; i < count; ++i) {
    const model::AggregateBackend& def = *backends[i].def;
    parts[i].group = def.group;
    const std::string error = unusable(answers[i], backends[i], docs[i]);
    if (error.empty()) {
      parts[i].body = &docs[i];
      continue;
    }
    ++failed;
    all_timed_out = all_timed_out && answers[i].timed_out;
    const std::string& name = backends[i].service->name();
    std::string line = "backend " + name + " (" + targets[i] + "): " + error;
    if (def.required) {
      required_failed = true;
      required_timed_out = required_timed_out && answers[i].timed_out;
      if (first_required_failure.empty()) first_required_failure = line;
    }
    if (first_failure.empty()) first_failure = std::move(line);
    failures += failures.empty() ? "{" : ",{";
    failures += R"("service":")";
    appendJsonEscaped(name, failures);
    failures += R"(","path":")";
    appendJsonEscaped(targets[i], failures);
    failures += R"(","required":)";
    failures += def.required ? "true" : "false";
    failures += R"(,"timed_out":)";
    failures += answers[i].timed_out ? "true" : "false";
    failures += R"(,"error":")";
    appendJsonEscaped(error, failures);
    failures += "\"}";
  }
  if (required_failed || failed == count) {
    // 504 when what decided the failure was time running out, else 502.
    const bool timed_out = required_failed ? required_timed_out : all_timed_out;
    std::string detail = required_failed ? "a required backend failed: " + first_required_failure
                                         : "every backend failed; the first: " + first_failure;
    std::string members = R"("backends":[)" + failures + "]";
    co_return co_await answer(
        {.status = timed_out ? 504 : 502, .detail = detail, .extra_members = members}, keep_alive);
  }

  nlohmann::json merged = policy::mergeAggregate(parts);
  const policy::CompiledResponseTransform* response_transform = route_->response_transform.get();
  if (response_transform != nullptr && response_transform->json() != nullptr) {
    response_transform->json()->apply(merged);
  }
  transform_body_ = merged.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);

  Fields fields;
  fields.set(http::field::content_type, "application/json");
  fields.set("X-Turnpike-Complete", failed == 0 ? "true" : "false");
  status_ = 200;
  ClientResponseHead head{
      .status = 200,
      .framing = BodyFraming::kContentLength,
      .content_length = transform_body_.size(),
      .keep_alive = keep_alive,
      .http10_client = request_version_ < 11,
      .request_id = request_id_,
      .edits = response_transform != nullptr ? &response_transform->headers() : nullptr};
  RateLimitFields rate_limit_fields;
  addRateLimitFields(head, rate_limit_fields);
  client_head_.clear();
  appendClientResponseHead(fields, head, client_head_);
  arm(Phase::kClientIo, options_.client_io_timeout);
  std::array<asio::const_buffer, 2> buffers = {
      asio::buffer(client_head_), head_ ? asio::const_buffer() : asio::buffer(transform_body_)};
  auto [ec, n] = co_await writeAll(client_, buffers);
  disarm();
  if (ec) co_return false;
  if (!head_) bytes_sent_ += transform_body_.size();
  co_return keep_alive;
}

void Session::renderClientHead(BodyFraming framing, uint64_t content_length, bool keep_alive) {
  const auto& response = response_->get();
  ClientResponseHead head{.status = response.result_int(),
                          .reason = response.reason(),
                          .framing = framing,
                          .content_length = content_length,
                          .keep_alive = keep_alive,
                          .http10_client = request_version_ < 11,
                          .request_id = request_id_};
  RateLimitFields rate_limit_fields;
  addRateLimitFields(head, rate_limit_fields);
  if (const auto* transform = route_->response_transform.get()) head.edits = &transform->headers();
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
  spdlog::warn("{}: upstream {} failed in the response body: {}", worker_.name(), target_.url,
               ec.message());
  const bool timed_out = expired_;
  upstream_.reset();
  if (!head_sent) {
    // Nothing reached the client yet: it gets an answer, not a closed connection.
    std::string detail =
        timed_out ? "the upstream " + target_.url + " sent no body within " +
                        std::to_string(upstream_timeout.count()) + " ms"
                  : "the upstream " + target_.url + " sent a malformed body: " + ec.message();
    co_return co_await answerFromUpstreamError(timed_out ? 504 : 502, std::move(detail));
  }
  // The head is out: all we can do is cut the client off so it sees a short body.
  co_return false;
}

bool Session::reshapes(const ParsedMessage<false>& response,
                       const boost::optional<uint64_t>& content_length,
                       const policy::CompiledResponseTransform& transform) {
  // Successful answers only: an upstream's error body keeps the shape its clients know.
  if (response.result_int() / 100 != 2) return false;
  if (content_length && *content_length > transform.maxBodyBytes()) return false;
  if (!policy::isJsonMediaType(response[http::field::content_type])) return false;
  const std::string_view encoding = response[http::field::content_encoding];
  return encoding.empty() || beast::iequals(encoding, "identity");
}

std::optional<ProxyAnswer> Session::applyPolicies(const HeaderView& headers,
                                                  std::string_view& hide_header,
                                                  std::string_view& hide_query) {
  const int64_t now_unix =
      std::chrono::duration_cast<std::chrono::seconds>(wall_started_.time_since_epoch()).count();
  const policy::KeyAuthResult auth =
      policy::authenticate(*snapshot_, *route_, headers, query_, now_unix, &worker_.verifiedKeys());
  auto unauthorized = [](std::string_view detail) {
    return ProxyAnswer{
        .status = 401, .detail = detail, .headers = {{"WWW-Authenticate", "ApiKey"}}};
  };
  switch (auth.outcome) {
    case policy::AuthOutcome::kMissing:
      return unauthorized("this route needs an API key");
    case policy::AuthOutcome::kUnknown:
      return unauthorized("the API key is not valid");
    case policy::AuthOutcome::kExpired:
      return unauthorized("the API key has expired");
    case policy::AuthOutcome::kNotRequired:
    case policy::AuthOutcome::kAuthenticated:
      break;
  }
  consumer_ = auth.entry ? auth.entry->consumer : nullptr;
  if (route_->hide_credentials) {
    hide_header = auth.found_in_header;
    hide_query = auth.found_in_query;
  }
  if (!policy::allowedByGroups(*route_, consumer_)) {
    return ProxyAnswer{.status = 403, .detail = "the consumer is not in a group this route allows"};
  }

  // Every policy of the route and of the consumer counts the request (a policy on both counts
  // once).
  decisions_.clear();
  const auto now = started_;  // read microseconds ago: no clock read of its own
  auto count = [&](const model::RateLimitPolicy& limit) {
    const std::string_view by = limit.key_by;
    limiter_key_.clear();
    if (by == "consumer" && consumer_) {
      limiter_key_ = consumer_->def->id;
    } else if (by == "api_key" && auth.entry) {
      limiter_key_ = auth.entry->key->id;
    } else if (by == "route") {
      limiter_key_ = route_->id();
    } else if (by.starts_with("header:")) {
      headers.visit(by.substr(7), [&](std::string_view value) {
        limiter_key_.assign(value);
        return true;
      });
    }
    // Anonymous callers of a consumer/key policy, and requests without the header, are counted
    // by address (as Kong does).
    if (limiter_key_.empty()) limiter_key_ = client_ip_;
    decisions_.push_back(worker_.rateLimiter().hit(limit, limiter_key_, now));
  };
  for (const model::RateLimitPolicy* limit : route_->policies) count(*limit);
  if (consumer_) {
    for (const model::RateLimitPolicy* limit : consumer_->policies) {
      if (std::find(route_->policies.begin(), route_->policies.end(), limit) ==
          route_->policies.end()) {
        count(*limit);
      }
    }
  }
  if (decisions_.empty()) return std::nullopt;
  rate_limit_ = policy::tightest(decisions_);
  if (rate_limit_->allowed) return std::nullopt;
  ProxyAnswer refused{.status = 429, .detail = "rate limit exceeded"};
  refused.headers.emplace_back("Retry-After", std::to_string(rate_limit_->retry_after_s));
  appendRateLimitHeaders(refused.headers);
  return refused;
}

void Session::appendRateLimitHeaders(
    std::vector<std::pair<std::string_view, std::string>>& headers) const {
  headers.emplace_back("RateLimit-Limit", std::to_string(rate_limit_->limit));
  headers.emplace_back("RateLimit-Remaining", std::to_string(rate_limit_->remaining));
  headers.emplace_back("RateLimit-Reset", std::to_string(rate_limit_->reset_s));
}

asio::awaitable<bool> Session::answer(ProxyAnswer problem, bool keep_alive) {
  status_ = problem.status;
  wire_.clear();
  renderProblem(problem, request_id_, keep_alive, head_, wire_);
  arm(Phase::kClientIo, options_.client_io_timeout);
  auto [ec, n] = co_await writeAll(client_, asio::buffer(wire_));
  bytes_sent_ = n;
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
  }
  co_return true;
}

Session::Refusal Session::redirectToHttps() {
  // The same URL on the TLS listener: the host without its port, then the listener's port
  // unless it is the default one. Without a TLS listener of our own, TLS is someone else's in
  // front of us: the default port.
  std::string_view host = host_;
  if (const std::size_t colon = host.rfind(':');
      colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos) {
    host = host.substr(0, colon);
  }
  refusal_detail_ = "https://";
  refusal_detail_.append(host);
  if (const uint16_t port = options_.tls ? options_.tls_port : 443; port != 443) {
    refusal_detail_.append(":").append(std::to_string(port));
  }
  const std::string_view target = request_->get().target();
  if (target.starts_with("/")) {
    refusal_detail_.append(target);
  } else {  // absolute-form: the path and query only
    refusal_detail_.append(path_);
    if (!query_.empty()) refusal_detail_.append("?").append(query_);
  }
  return Refusal{{.status = 308,
                  .detail = "this route is served over HTTPS only",
                  .headers = {{"Location", refusal_detail_}}},
                 reusable()};
}

void Session::finish() {
  if (status_ == 0) return;
  const auto total = duration_cast<microseconds>(Clock::now() - started_);
  std::string_view route = route_ ? route_->display_name : std::string_view();
  worker_.metrics().record(route_ ? ProxyMetrics::RouteRef{.name = route,
                                                           .index = route_->index,
                                                           .snapshot = snapshot_->buildId()}
                                  : ProxyMetrics::RouteRef{},
                           status_, total, upstream_duration_, called_upstream_);
  worker_.metrics().recordListener(tls_ != nullptr);
  if (AccessLogBuffer* log = worker_.accessLog()) {
    log->append(
        {.time = wall_started_,
         .request_id = request_id_,
         .client_ip = client_ip_,
         .method = method_,
         .host = host_,
         .path = path_,
         .protocol = request_version_ == 10 ? "HTTP/1.0" : "HTTP/1.1",
         .scheme = tls_ != nullptr ? "https" : "http",
         .route = route,
         .consumer = consumer_ ? std::string_view(consumer_->def->username) : std::string_view(),
         .status = status_,
         .bytes_sent = bytes_sent_,
         .duration = total,
         .upstream_duration = upstream_duration_,
         .target = target_.url});
  }
  status_ = 0;
  snapshot_.reset();
  balancer_.reset();
}

}  // namespace

asio::awaitable<void> serveConnection(Worker& worker, tcp::socket socket, tls::TlsListener* tls) {
  Session session(worker, std::move(socket), tls);
  co_await session.run();
}

}  // namespace turnpike::proxy
