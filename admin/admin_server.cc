#include "admin/admin_server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cctype>
#include <chrono>
#include <mutex>
#include <sstream>
#include <string_view>

#include "admin/admin_api.h"
#include "admin/handler_support.h"
#include "admin/http_message.h"
#include "admin/problem.h"

namespace turnpike::admin {
namespace {

namespace Http = Pistache::Http;

// Pistache's parser buffers a whole request (head and body) up to this many bytes. A declared
// Content-Length over the API's 1 MiB is refused as soon as the head is in (onHeaders), so the
// headroom is for the head itself and for chunked framing.
constexpr size_t kMaxRequestBytes = kMaxBodyBytes + 64 * 1024;

// A response header whose name is known only at run time (Pistache's typed headers are not).
class DynamicHeader final : public Http::Header::Header {
 public:
  DynamicHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {
    // No header splitting: a value never carries CR or LF onto the wire.
    for (char& c : value_) {
      if (c == '\r' || c == '\n') c = ' ';
    }
  }
  const char* name() const override { return name_.c_str(); }
  uint64_t hash() const override { return Http::Header::detail::hash(name_.c_str()); }
  void write(std::ostream& os) const override { os << value_; }

 private:
  std::string name_;
  std::string value_;
};

std::string toLower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (and '+' as space in query strings); malformed escapes stay as they are.
std::string percentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      int hi = hexValue(text[i + 1]);
      int lo = hexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

bool hasToken(const std::string& header_value, std::string_view token) {
  std::string lower = toLower(header_value);
  size_t start = 0;
  while (start <= lower.size()) {
    size_t comma = lower.find(',', start);
    if (comma == std::string::npos) comma = lower.size();
    std::string_view item(lower.data() + start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == token) return true;
    start = comma + 1;
  }
  return false;
}

HttpRequest toHttpRequest(const Http::Request& request) {
  HttpRequest out;
  out.method = Http::methodString(request.method());
  out.path = percentDecode(request.resource(), /*plus_is_space=*/false);
  const Http::Uri::Query& query = request.query();
  for (auto it = query.parameters_begin(); it != query.parameters_end(); ++it) {
    out.query[percentDecode(it->first, true)] = percentDecode(it->second, true);
  }
  // Typed (registered) headers first, then the raw list, which holds every header as sent.
  for (const auto& header : request.headers().list()) {
    std::ostringstream value;
    header->write(value);
    out.headers[toLower(header->name())] = value.str();
  }
  for (const auto& [name, raw] : request.headers().rawList()) {
    out.headers[toLower(name)] = raw.value();
  }
  out.body = request.body();
  out.peer = request.address().host() + ":" + request.address().port().toString();
  return out;
}

// Whether this exchange ends the connection: HTTP/1.1 persists unless the client said
// "close"; HTTP/1.0 closes unless it said "keep-alive" (RFC 9112 §9.3).
bool closesConnection(const Http::Request& request, const HttpRequest& converted) {
  const std::string* connection = converted.header("connection");
  if (request.version() == Http::Version::Http10) {
    return connection == nullptr || !hasToken(*connection, "keep-alive");
  }
  return connection != nullptr && hasToken(*connection, "close");
}

// Per-connection state kept in the Pistache peer (touched only by the peer's reactor thread).
struct ConnectionState {
  bool closing = false;    // we answered "close": ignore whatever else arrives
  bool continued = false;  // "100 Continue" sent for the request being read
};

constexpr char kStateKey[] = "turnpike.admin.connection";

ConnectionState& stateOf(const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
  auto state = std::static_pointer_cast<ConnectionState>(peer->tryGetData(kStateKey));
  if (!state) {
    state = std::make_shared<ConnectionState>();
    peer->putData(kStateKey, state);
  }
  return *state;
}

// Serves AdminApi over Pistache's HTTP/1.1 parser.
//
// It replaces Http::Handler's onInput (which Pistache declares private but dispatches
// virtually through Tcp::Handler) to fix what 0.0.5 gets wrong at the connection level:
//  - it answers "Connection: close" to every request without a Connection header and keeps
//    the socket; we decide persistence per RFC 9112 §9.3 and, when we say close, half-close;
//  - past maxRequestSize it answers 413 yet keeps parsing the rest of the body as new
//    requests, re-scanning its buffer on every 4 KiB read (seconds per MiB on a reactor
//    thread); we refuse once, then discard input until the client hangs up;
//  - a Content-Length over the API's limit is refused as soon as the headers are in, before
//    any of the body is read;
//  - it never sends "100 Continue", so curl waits a second before large uploads; we do.
// Everything else (parsing, timeouts, writing) is Pistache's.
class PistacheHandler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(PistacheHandler)

  explicit PistacheHandler(const AdminApi& api) : api_(&api) {}

  void onInput(const char* buffer, size_t len,
               const std::shared_ptr<Pistache::Tcp::Peer>& peer) override {
    ConnectionState& state = stateOf(peer);
    if (state.closing) return;
    auto parser = getParser(peer);
    Http::Request& request = parser->request;
    try {
      if (!parser->feed(buffer, len)) {
        refuse(peer, *parser, 413,
               "request exceeds " + std::to_string(kMaxRequestBytes) +
                   " bytes; bodies are limited to 1 MiB (1048576 bytes)");
        return;
      }
      if (parser->parse() == Http::Private::State::Done) {
        state.continued = false;
        Http::ResponseWriter writer(request.version(), transport(), this, peer);
        request.copyAddress(peer->address());
        peer->setIdle(false);
        onRequest(request, std::move(writer));
        parser->reset();
        return;
      }
      if (parser->step()->id() == Http::Private::BodyStep::Id) onHeaders(peer, *parser, state);
    } catch (const Http::HttpError& e) {
      refuse(peer, *parser, e.code(), e.reason());
    } catch (const std::exception& e) {
      refuse(peer, *parser, 400, std::string("malformed request: ") + e.what());
    }
  }

  void onRequest(const Http::Request& request, Http::ResponseWriter writer) override {
    HttpRequest converted = toHttpRequest(request);
    HttpResponse response = api_->handle(converted);
    bool close = closesConnection(request, converted);
    if (close) {
      if (auto peer = writer.getPeer()) stateOf(peer).closing = true;
    }
    writeResponse(std::move(writer), request.version(), response, close);
  }

 private:
  // The headers are in and the body is on its way.
  void onHeaders(const std::shared_ptr<Pistache::Tcp::Peer>& peer, Http::RequestParser& parser,
                 ConnectionState& state) {
    const Http::Request& request = parser.request;
    auto length = request.headers().tryGet<Http::Header::ContentLength>();
    if (length && length->value() > kMaxBodyBytes) {
      refuse(peer, parser, 413,
             "request body is " + std::to_string(length->value()) +
                 " bytes; the limit is 1 MiB (1048576 bytes)");
      return;
    }
    auto expect = request.headers().tryGetRaw("Expect");
    if (!state.continued && request.version() == Http::Version::Http11 && expect &&
        toLower(expect->value()) == "100-continue" && request.body().empty()) {
      state.continued = true;
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      transport()->asyncWrite(peer->fd(), Pistache::RawBuffer(kContinue, kContinue.size()));
    }
  }

  // Answers a request we will not read to the end with a problem, and closes.
  void refuse(const std::shared_ptr<Pistache::Tcp::Peer>& peer, Http::RequestParser& parser,
              int status, const std::string& detail) {
    stateOf(peer).closing = true;
    Http::Version version = parser.request.version();
    parser.reset();
    writeResponse(Http::ResponseWriter(version, transport(), this, peer), version,
                  problem(status, detail), /*close=*/true);
  }

  static void writeResponse(Http::ResponseWriter writer, Http::Version version,
                            const HttpResponse& response, bool close) {
    Http::Header::Collection& headers = writer.headers();
    headers.remove<Http::Header::Connection>();
    if (close) {
      headers.add(std::make_shared<DynamicHeader>("Connection", "close"));
    } else if (version == Http::Version::Http10) {
      headers.add(std::make_shared<DynamicHeader>("Connection", "keep-alive"));
    }
    for (const auto& [name, value] : response.headers) {
      headers.add(std::make_shared<DynamicHeader>(name, value));
    }
    std::weak_ptr<Pistache::Tcp::Peer> peer = writer.getPeer();
    // No MediaType argument: Content-Type, when any, came with the headers above.
    auto sent = writer.send(static_cast<Http::Code>(response.status), response.body);
    if (close) {
      // Resolved on the peer's reactor thread once the answer is in the kernel. Half-closing
      // (FIN) rather than closing lets the client read the answer even while it is still
      // sending; its own close then makes the reactor release the peer.
      sent.then(
          [peer](ssize_t) {
            if (auto p = peer.lock()) ::shutdown(p->fd(), SHUT_WR);
          },
          [](std::exception_ptr) {});
    }
  }

  const AdminApi* api_;  // outlives the server (AdminServer's contract)
};

}  // namespace

struct AdminServer::Impl {
  Impl(const AdminApi& api_, std::string host_, uint16_t port_, int threads_)
      : api(api_), host(std::move(host_)), port(port_), threads(threads_ < 1 ? 1 : threads_) {}

  const AdminApi& api;
  std::string host;
  uint16_t port;
  int threads;

  std::mutex mu;  // guards endpoint and bound_port (start/stop/port may race in tests)
  std::unique_ptr<Http::Endpoint> endpoint;
  uint16_t bound_port = 0;
};

AdminServer::AdminServer(const AdminApi& api, std::string host, uint16_t port, int threads)
    : impl_(std::make_unique<Impl>(api, std::move(host), port, threads)) {}

AdminServer::~AdminServer() { stop(); }

model::Status AdminServer::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->endpoint) return model::Error::internal("admin server already started");
  std::string where = impl_->host + ":" + std::to_string(impl_->port);
  try {
    auto endpoint = std::make_unique<Http::Endpoint>(
        Pistache::Address(impl_->host, Pistache::Port(impl_->port)));
    auto options = Http::Endpoint::options()
                       .threads(impl_->threads)
                       .threadsName("tp-admin")
                       .flags(Pistache::Tcp::Options::ReuseAddr)
                       .maxRequestSize(kMaxRequestBytes)
                       .headerTimeout(std::chrono::seconds(10))
                       .bodyTimeout(std::chrono::seconds(30))
                       .keepaliveTimeout(std::chrono::seconds(60));
    endpoint->init(options);
    endpoint->setHandler(Http::make_handler<PistacheHandler>(impl_->api));
    // serveThreaded() binds (throwing when it cannot) and returns once the accept thread runs.
    // Binding separately first would bind twice: serveThreaded() always binds again.
    endpoint->serveThreaded();
    impl_->bound_port = endpoint->getPort();
    impl_->endpoint = std::move(endpoint);
  } catch (const std::exception& e) {
    return model::Error::internal("admin API cannot listen on " + where + ": " + e.what());
  }
  spdlog::info("admin API listening on {}:{}", impl_->host, impl_->bound_port);
  return model::Ok{};
}

void AdminServer::stop() {
  std::unique_ptr<Http::Endpoint> endpoint;
  {
    std::lock_guard lock(impl_->mu);
    endpoint = std::move(impl_->endpoint);
    impl_->bound_port = 0;
  }
  if (!endpoint) return;
  try {
    endpoint->shutdown();
  } catch (const std::exception& e) {
    spdlog::warn("admin API shutdown: {}", e.what());
  }
  endpoint.reset();  // joins the accept and reactor threads
}

uint16_t AdminServer::port() const {
  std::lock_guard lock(impl_->mu);
  return impl_->bound_port;
}

}  // namespace turnpike::admin
