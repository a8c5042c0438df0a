#include "tests/support/test_upstream.h"

#include <linux/sockios.h>
#include <openssl/evp.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <future>
#include <latch>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace turnpike::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
// Body read buffer, largest kept request body, and response piece size.
constexpr size_t kPiece = 64 * 1024;
constexpr std::string_view kPatternUnit = "0123456789abcdef";
// reset=body: pause between the peer having the partial answer and the RST (see answer()).
constexpr uint64_t kResetGraceMs = 50;
// How long a graceful close waits for the peer's FIN before closing anyway.
constexpr auto kLingerTimeout = std::chrono::seconds(1);

// kPiece + 16 bytes of the repeating pattern: a piece of up to kPiece bytes can start at any
// phase of the pattern.
const std::string& patternBlock() {
  static const std::string block = [] {
    std::string s;
    s.reserve(kPiece + kPatternUnit.size());
    while (s.size() < kPiece + kPatternUnit.size()) s.append(kPatternUnit);
    return s;
  }();
  return block;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

bool containsTokenIgnoreCase(std::string_view list, std::string_view token) {
  const std::string lower = toLower(list);
  return lower.find(toLower(token)) != std::string::npos;
}

int hexValue(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding; a malformed escape is kept as it is.
std::string percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hexValue(s[i + 1]) >= 0 &&
               hexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<uint64_t> parseUnsigned(std::string_view s) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += len;
  }
  return true;
}

// Running SHA-256 (OpenSSL EVP) of a request body.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void update(const void* data, size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md.data(), &len);
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out.push_back(kDigits[md[i] >> 4]);
      out.push_back(kDigits[md[i] & 0xF]);
    }
    return out;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

// What the request's query asks of the answer (see the header).
struct Behaviour {
  enum class Reset { kNone, kHeaders, kBody };
  int status = 200;
  uint64_t delay_ms = 0;
  std::optional<uint64_t> size;
  bool chunked = false;
  uint64_t trickle_ms = 0;
  bool close = false;
  Reset reset = Reset::kNone;
  bool garbage = false;
  bool bad_chunk = false;
  bool hang = false;
  std::vector<std::pair<std::string, std::string>> headers;
};

bool isOn(std::string_view v) { return v == "1" || v == "true" || v == "yes"; }

Behaviour parseBehaviour(std::string_view query) {
  Behaviour b;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    const std::string key = percentDecode(part.substr(0, eq));
    const std::string value =
        eq == std::string_view::npos ? std::string() : percentDecode(part.substr(eq + 1));
    if (key == "status") {
      if (auto v = parseUnsigned(value); v && *v >= 100 && *v <= 999)
        b.status = static_cast<int>(*v);
    } else if (key == "delay_ms") {
      b.delay_ms = parseUnsigned(value).value_or(0);
    } else if (key == "size") {
      b.size = parseUnsigned(value);
    } else if (key == "chunked") {
      b.chunked = isOn(value);
    } else if (key == "trickle_ms") {
      b.trickle_ms = parseUnsigned(value).value_or(0);
    } else if (key == "close") {
      b.close = isOn(value);
    } else if (key == "reset") {
      if (value == "headers") b.reset = Behaviour::Reset::kHeaders;
      if (value == "body") b.reset = Behaviour::Reset::kBody;
    } else if (key == "garbage") {
      b.garbage = isOn(value);
    } else if (key == "bad_chunk") {
      b.bad_chunk = isOn(value);
    } else if (key == "hang") {
      b.hang = isOn(value);
    } else if (key.starts_with("header.") && key.size() > 7) {
      std::string name = key.substr(7);
      // A CR or LF would split the response head; such a header is dropped.
      auto bad = [](const std::string& s) { return s.find_first_of("\r\n") != s.npos; };
      if (!bad(name) && !bad(value)) b.headers.emplace_back(std::move(name), value);
    }
  }
  return b;
}

// The body of an answer: a string (the echo) or `size` bytes of the pattern.
class BodySource {
 public:
  static BodySource text(std::string s) {
    BodySource b;
    b.size_ = s.size();
    b.text_ = std::move(s);
    return b;
  }
  static BodySource pattern(uint64_t size) {
    BodySource b;
    b.size_ = size;
    b.is_pattern_ = true;
    return b;
  }
  uint64_t size() const { return size_; }
  // Up to `max` (<= kPiece) bytes from `offset`; valid while this object lives.
  asio::const_buffer piece(uint64_t offset, size_t max) const {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(max, size_ - offset));
    if (is_pattern_) {
      return asio::buffer(patternBlock().data() + offset % kPatternUnit.size(), n);
    }
    return asio::buffer(text_.data() + offset, n);
  }

 private:
  std::string text_;
  uint64_t size_ = 0;
  bool is_pattern_ = false;
};

// One accepted connection. Every member is touched only on the socket's strand.
struct Connection {
  enum class Phase {
    kBusy,       // reading a request or answering it
    kFinishing,  // the last bytes of a keep-alive answer are being written
    kIdle,       // waiting for the next request, nothing of it buffered
  };

  explicit Connection(tcp::socket s) : socket(std::move(s)) {}

  // Closes at once (FIN) and wakes whoever waits for this connection to close.
  void closeNow() {
    boost::system::error_code ignored;
    if (socket.is_open()) {
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    }
    for (auto& w : closed_waiters) w.set_value();
    closed_waiters.clear();
  }

  tcp::socket socket;  // its executor is this connection's strand
  Phase phase = Phase::kBusy;
  // Set by closeIdleConnections() on a kFinishing connection: close instead of reading on.
  bool close_when_idle = false;
  std::vector<std::promise<void>> closed_waiters;
};

std::string reasonFor(int status) {
  const http::status s = http::int_to_status(static_cast<unsigned>(status));
  if (s == http::status::unknown) return "Status";
  return std::string(http::obsolete_reason(s));
}

}  // namespace

struct TestUpstream::Impl {
  Impl(std::string n, int t) : name(std::move(n)), threads(std::max(1, t)) {}

  // What a request's answer needs to know about the request.
  struct Request {
    http::request<http::buffer_body>* message;
    uint64_t body_bytes;
    std::string body_sha256;
    std::optional<std::string> small_body;  // the body when <= kPiece bytes
    uint64_t connection_requests;
    bool keep_alive;
    bool pipelined;  // bytes of a next request are already buffered
  };

  awaitable<void> acceptLoop();
  awaitable<void> serve(std::shared_ptr<Connection> conn, uint64_t id);
  // Answers one request; false when the connection is finished (closed or to be closed).
  awaitable<bool> answer(Connection& conn, const Request& req);
  std::string echo(const Request& req, std::string_view path, std::string_view query) const;

  const std::string name;
  const int threads;

  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> served{0};
  std::atomic<uint64_t> open{0};
  std::atomic<uint64_t> health_checks{0};
  std::atomic<bool> healthy{true};
  std::atomic<uint16_t> port{0};
  std::atomic<bool> running{false};

  std::mutex mu;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> connections;  // guarded by mu
  uint64_t next_id = 0;                                                 // guarded by mu

  // Owning thread only (start/stop), and the accept coroutine while running.
  std::optional<asio::io_context> ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> workers;
};

namespace {

awaitable<void> sleepFor(const asio::any_io_executor& ex, uint64_t ms) {
  asio::steady_timer timer(ex, std::chrono::milliseconds(ms));
  co_await timer.async_wait(kNoThrow);
}

// RST instead of FIN: SO_LINGER 0, then close.
void resetSocket(tcp::socket& s) {
  boost::system::error_code ignored;
  s.set_option(asio::socket_base::linger(true, 0), ignored);
  s.close(ignored);
}

// Sends FIN, waits (bounded) for the peer's FIN while discarding what it still sends, so that
// unread bytes do not turn the close into a RST that could destroy the answer in flight.
awaitable<void> closeGracefully(std::shared_ptr<Connection> conn) {
  boost::system::error_code ignored;
  if (!conn->socket.is_open()) co_return;
  conn->socket.shutdown(tcp::socket::shutdown_send, ignored);
  asio::steady_timer timer(conn->socket.get_executor(), kLingerTimeout);
  timer.async_wait([conn](boost::system::error_code ec) {
    boost::system::error_code ignored2;
    if (!ec) conn->socket.close(ignored2);
  });
  std::vector<char> sink(16 * 1024);
  for (;;) {
    auto [ec, n] = co_await conn->socket.async_read_some(asio::buffer(sink), kNoThrow);
    if (ec) break;
  }
  timer.cancel();
  conn->socket.close(ignored);
}

// Keeps the connection open without answering until the peer closes it or the server stops.
awaitable<void> hang(Connection& conn) {
  std::vector<char> sink(16 * 1024);
  for (;;) {
    auto [ec, n] = co_await conn.socket.async_read_some(asio::buffer(sink), kNoThrow);
    if (ec) break;
  }
}

// Waits (bounded) until the peer's kernel acknowledged everything written (SIOCOUTQ == 0).
awaitable<void> waitUntilAcknowledged(Connection& conn, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int unacknowledged = 0;
    if (::ioctl(conn.socket.native_handle(), SIOCOUTQ, &unacknowledged) != 0 ||
        unacknowledged == 0) {
      break;
    }
    co_await sleepFor(conn.socket.get_executor(), 1);
  }
}

// (No braced buffer lists inside co_await expressions: g++ 12 rejects them in coroutines.)
awaitable<bool> writeAll(Connection& conn, const std::vector<asio::const_buffer>& buffers) {
  auto [ec, n] = co_await asio::async_write(conn.socket, buffers, kNoThrow);
  co_return !ec;
}

awaitable<bool> writeAll(Connection& conn, asio::const_buffer buffer) {
  auto [ec, n] = co_await asio::async_write(conn.socket, buffer, kNoThrow);
  co_return !ec;
}

}  // namespace

awaitable<void> TestUpstream::Impl::acceptLoop() {
  for (;;) {
    tcp::socket socket(asio::make_strand(*ioc));
    auto [ec] = co_await acceptor->async_accept(socket, kNoThrow);
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
    if (ec) {
      // Out of descriptors or the like: back off instead of spinning.
      co_await sleepFor(acceptor->get_executor(), 10);
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    accepted.fetch_add(1, std::memory_order_relaxed);
    open.fetch_add(1, std::memory_order_relaxed);
    auto conn = std::make_shared<Connection>(std::move(socket));
    uint64_t id = 0;
    {
      std::lock_guard lock(mu);
      id = ++next_id;
      connections.emplace(id, conn);
    }
    auto ex = conn->socket.get_executor();
    asio::co_spawn(ex, serve(std::move(conn), id), asio::detached);
  }
}

awaitable<void> TestUpstream::Impl::serve(std::shared_ptr<Connection> conn, uint64_t id) {
  // Runs when the coroutine ends or its frame is destroyed by stop().
  struct Done {
    Impl* impl;
    uint64_t id;
    ~Done() {
      impl->open.fetch_sub(1, std::memory_order_relaxed);
      std::lock_guard lock(impl->mu);
      impl->connections.erase(id);
    }
  } done{this, id};

  beast::flat_buffer buffer;
  buffer.reserve(kPiece);
  std::vector<char> body_buffer;  // allocated with the first request body
  uint64_t connection_requests = 0;
  bool reusable = true;
  while (reusable) {
    http::request_parser<http::buffer_body> parser;
    parser.header_limit(1024 * 1024);
    parser.body_limit(boost::none);
    conn->phase = buffer.size() == 0 ? Connection::Phase::kIdle : Connection::Phase::kBusy;
    auto [ec, n] = co_await http::async_read_header(conn->socket, buffer, parser, kNoThrow);
    conn->phase = Connection::Phase::kBusy;
    if (ec) {
      if (ec.category() == http::make_error_code(http::error::bad_version).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message) {
        static constexpr std::string_view kBadRequest =
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        co_await writeAll(*conn, asio::buffer(kBadRequest));
        co_await closeGracefully(conn);
      }
      break;
    }
    auto& message = parser.get();
    if (!parser.is_done() && message.version() >= 11 &&
        equalsIgnoreCase(message[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!co_await writeAll(*conn, asio::buffer(kContinue))) break;
    }

    Sha256 sha;
    uint64_t body_bytes = 0;
    std::optional<std::string> small_body(std::in_place);
    bool body_ok = true;
    if (!parser.is_done() && body_buffer.empty()) body_buffer.resize(kPiece);
    while (!parser.is_done()) {
      message.body().data = body_buffer.data();
      message.body().size = body_buffer.size();
      auto [rec, rn] = co_await http::async_read(conn->socket, buffer, parser, kNoThrow);
      if (rec == http::error::need_buffer) rec = {};
      if (rec) {
        body_ok = false;
        break;
      }
      const size_t got = body_buffer.size() - message.body().size;
      sha.update(body_buffer.data(), got);
      body_bytes += got;
      if (small_body && small_body->size() + got <= kPiece) {
        small_body->append(body_buffer.data(), got);
      } else {
        small_body.reset();
      }
    }
    if (!body_ok) break;

    const Request req{.message = &message,
                      .body_bytes = body_bytes,
                      .body_sha256 = sha.hex(),
                      .small_body = std::move(small_body),
                      .connection_requests = ++connection_requests,
                      .keep_alive = parser.keep_alive(),
                      .pipelined = buffer.size() > 0};
    reusable = co_await answer(*conn, req);
    if (!reusable && conn->socket.is_open()) co_await closeGracefully(conn);
    // closeIdleConnections() came while the last bytes of the answer were on their way.
    if (conn->close_when_idle) break;
  }
  conn->phase = Connection::Phase::kBusy;
  conn->closeNow();
}

std::string TestUpstream::Impl::echo(const Request& req, std::string_view path,
                                     std::string_view query) const {
  const auto& m = *req.message;
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& field : m.base()) {
    const std::string key = toLower(field.name_string());
    std::string value(field.value());
    auto it = headers.find(key);
    if (it == headers.end()) {
      headers[key] = std::move(value);
    } else if (it->is_array()) {
      it->push_back(std::move(value));
    } else {
      *it = nlohmann::json::array({*it, std::move(value)});
    }
  }
  nlohmann::json j = {
      {"upstream", name},
      {"method", std::string(m.method_string())},
      {"target", std::string(m.target())},
      {"path", std::string(path)},
      {"query", std::string(query)},
      {"version", std::to_string(m.version() / 10) + "." + std::to_string(m.version() % 10)},
      {"headers", std::move(headers)},
      {"body_bytes", req.body_bytes},
      {"body_sha256", req.body_sha256},
      {"connection_requests", req.connection_requests},
  };
  if (req.small_body && validUtf8(*req.small_body)) j["body"] = *req.small_body;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

awaitable<bool> TestUpstream::Impl::answer(Connection& conn, const Request& req) {
  const auto& m = *req.message;
  const std::string_view target = m.target();
  const size_t qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const std::string_view query =
      qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1);
  const bool head_request = m.method() == http::verb::head;

  Behaviour b;
  std::optional<BodySource> body;
  if (path == "/healthz") {
    health_checks.fetch_add(1, std::memory_order_relaxed);
    const bool ok = healthy.load(std::memory_order_relaxed);
    b.status = ok ? 200 : 503;
    body = BodySource::text(ok ? R"({"ok":true})" : R"({"ok":false})");
  } else {
    served.fetch_add(1, std::memory_order_relaxed);
    b = parseBehaviour(query);
  }
  const auto ex = conn.socket.get_executor();

  if (b.delay_ms > 0) co_await sleepFor(ex, b.delay_ms);
  if (b.reset == Behaviour::Reset::kHeaders) {
    resetSocket(conn.socket);
    co_return false;
  }
  if (b.garbage) {
    static constexpr std::string_view kGarbage = "HELLO GARBAGE\r\n\r\n";
    co_await writeAll(conn, asio::buffer(kGarbage));
    co_return false;
  }
  if (b.hang) {
    co_await hang(conn);
    co_return false;
  }

  std::string content_type = "application/json";
  if (!body) {
    if (b.size) {
      body = BodySource::pattern(*b.size);
      content_type = "application/octet-stream";
    } else {
      body = BodySource::text(echo(req, path, query));
    }
  }
  const bool status_has_body = !(b.status < 200 || b.status == 204 || b.status == 304);
  const bool chunked = b.chunked || b.bad_chunk;

  // The head: defaults first, each replaced by header.NAME parameters of the same name.
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back("Server", "turnpike-test-upstream");
  fields.emplace_back("X-Upstream", name);
  if (status_has_body) {
    fields.emplace_back("Content-Type", content_type);
    if (chunked) {
      fields.emplace_back("Transfer-Encoding", "chunked");
    } else {
      fields.emplace_back("Content-Length", std::to_string(body->size()));
    }
  }
  bool close_after = b.close || !req.keep_alive;
  if (close_after) {
    fields.emplace_back("Connection", "close");
  } else if (m.version() < 11) {
    fields.emplace_back("Connection", "keep-alive");
  }
  for (const auto& [n, v] : b.headers) {
    std::erase_if(fields, [&](const auto& f) { return equalsIgnoreCase(f.first, n); });
  }
  for (const auto& [n, v] : b.headers) {
    fields.emplace_back(n, v);
    if (equalsIgnoreCase(n, "Connection") && containsTokenIgnoreCase(v, "close")) {
      close_after = true;
    }
  }
  std::string head = "HTTP/1.1 " + std::to_string(b.status) + " " + reasonFor(b.status) + "\r\n";
  for (const auto& [n, v] : fields) head += n + ": " + v + "\r\n";
  head += "\r\n";

  if (b.bad_chunk) {
    static constexpr std::string_view kBadChunk = "zz\r\nnot a chunk\r\n0\r\n\r\n";
    const std::vector<asio::const_buffer> bad = {asio::buffer(head), asio::buffer(kBadChunk)};
    co_await writeAll(conn, bad);
    co_return false;
  }

  const bool send_body = status_has_body && !head_request;
  const bool reset_body = b.reset == Behaviour::Reset::kBody;
  const uint64_t total = send_body ? body->size() : 0;
  const uint64_t limit = reset_body ? total / 2 : total;
  static constexpr std::string_view kCrlf = "\r\n";
  static constexpr std::string_view kCrlfLastChunk = "\r\n0\r\n\r\n";
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";

  // Before the last write of a keep-alive answer: from now on the client may see the connection
  // as idle, so closeIdleConnections() must count it (see Connection::Phase).
  auto lastWrite = [&] {
    if (!close_after && !req.pipelined) conn.phase = Connection::Phase::kFinishing;
  };
  bool head_pending = true;
  if (b.trickle_ms > 0 && limit > 0) {
    if (!co_await writeAll(conn, asio::buffer(head))) co_return false;
    head_pending = false;
  }
  const size_t step = b.trickle_ms > 0 ? 1 : kPiece;
  std::vector<asio::const_buffer> buffers;
  std::array<char, 20> size_line{};
  for (uint64_t offset = 0; offset < limit;) {
    if (b.trickle_ms > 0) co_await sleepFor(ex, b.trickle_ms);
    const asio::const_buffer piece =
        body->piece(offset, static_cast<size_t>(std::min<uint64_t>(step, limit - offset)));
    const bool last = offset + piece.size() == total;
    buffers.clear();
    if (head_pending) buffers.push_back(asio::buffer(head));
    if (send_body && chunked) {
      auto [end, ec] = std::to_chars(size_line.data(), size_line.data() + size_line.size() - 2,
                                     piece.size(), 16);
      *end++ = '\r';
      *end++ = '\n';
      buffers.push_back(asio::buffer(size_line.data(), end - size_line.data()));
      buffers.push_back(piece);
      buffers.push_back(asio::buffer(last ? kCrlfLastChunk : kCrlf));
    } else {
      buffers.push_back(piece);
    }
    if (offset + piece.size() == limit && !reset_body) lastWrite();
    if (!co_await writeAll(conn, buffers)) co_return false;
    head_pending = false;
    offset += piece.size();
  }
  if (reset_body) {
    if (head_pending) co_await writeAll(conn, asio::buffer(head));
    // Linux drops received-but-unread bytes when a RST arrives: let the peer read first.
    co_await waitUntilAcknowledged(conn, std::chrono::seconds(1));
    co_await sleepFor(ex, kResetGraceMs);
    resetSocket(conn.socket);
    co_return false;
  }
  if (head_pending || (send_body && chunked && total == 0)) {
    buffers.clear();
    if (head_pending) buffers.push_back(asio::buffer(head));
    if (send_body && chunked && total == 0) buffers.push_back(asio::buffer(kLastChunk));
    lastWrite();
    if (!co_await writeAll(conn, buffers)) co_return false;
  }
  co_return !close_after;
}

TestUpstream::TestUpstream(std::string name, int threads)
    : impl_(std::make_unique<Impl>(std::move(name), threads)) {}

TestUpstream::~TestUpstream() { stop(); }

void TestUpstream::start(uint16_t port) {
  Impl& d = *impl_;
  if (d.running.load()) return;
  d.ioc.emplace(d.threads);
  try {
    d.acceptor.emplace(asio::make_strand(*d.ioc));
    const tcp::endpoint endpoint(asio::ip::address_v4::loopback(), port);
    d.acceptor->open(endpoint.protocol());
    d.acceptor->set_option(asio::socket_base::reuse_address(true));
    d.acceptor->bind(endpoint);
    d.acceptor->listen(asio::socket_base::max_listen_connections);
  } catch (...) {
    d.acceptor.reset();
    d.ioc.reset();
    throw;
  }
  d.port.store(d.acceptor->local_endpoint().port());
  d.work.emplace(d.ioc->get_executor());
  asio::co_spawn(d.acceptor->get_executor(), d.acceptLoop(), asio::detached);
  for (int i = 0; i < d.threads; ++i) d.workers.emplace_back([&d] { d.ioc->run(); });
  d.running.store(true);
}

void TestUpstream::stop() {
  Impl& d = *impl_;
  if (!d.running.load()) return;
  d.work.reset();
  d.ioc->stop();
  for (auto& t : d.workers) t.join();
  d.workers.clear();
  d.acceptor.reset();
  // Destroys the suspended coroutines, and with them every connection's socket.
  d.ioc.reset();
  d.running.store(false);
}

bool TestUpstream::running() const { return impl_->running.load(); }
uint16_t TestUpstream::port() const { return impl_->port.load(); }
std::string TestUpstream::url() const { return "http://127.0.0.1:" + std::to_string(port()); }
const std::string& TestUpstream::name() const { return impl_->name; }

uint64_t TestUpstream::connectionsAccepted() const { return impl_->accepted.load(); }
uint64_t TestUpstream::requestsServed() const { return impl_->served.load(); }
uint64_t TestUpstream::openConnections() const { return impl_->open.load(); }
uint64_t TestUpstream::healthChecks() const { return impl_->health_checks.load(); }

void TestUpstream::setHealthy(bool healthy) { impl_->healthy.store(healthy); }
bool TestUpstream::healthy() const { return impl_->healthy.load(); }

int TestUpstream::closeIdleConnections() {
  Impl& d = *impl_;
  if (!d.running.load()) return 0;
  std::vector<std::shared_ptr<Connection>> connections;
  {
    std::lock_guard lock(d.mu);
    for (const auto& [id, weak] : d.connections) {
      if (auto c = weak.lock()) connections.push_back(std::move(c));
    }
  }
  std::mutex mu;
  std::vector<std::future<void>> finishing;  // guarded by mu
  std::atomic<int> closed{0};
  std::latch visited(static_cast<std::ptrdiff_t>(connections.size()));
  for (auto& c : connections) {
    asio::post(c->socket.get_executor(), [c, &closed, &visited, &mu, &finishing] {
      if (c->socket.is_open() && c->phase == Connection::Phase::kIdle) {
        c->closeNow();
        closed.fetch_add(1);
      } else if (c->socket.is_open() && c->phase == Connection::Phase::kFinishing &&
                 !c->close_when_idle) {
        // Its answer may already be with the client: close it as soon as the write ends.
        c->close_when_idle = true;
        std::lock_guard lock(mu);
        finishing.push_back(c->closed_waiters.emplace_back().get_future());
        closed.fetch_add(1);
      }
      visited.count_down();
    });
  }
  visited.wait();
  // A connection's coroutine ends (and its promises go) even when the write fails.
  for (auto& f : finishing) f.wait_for(std::chrono::seconds(5));
  return closed.load();
}

}  // namespace turnpike::test
