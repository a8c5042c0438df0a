#include "tests/support/http_client.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>

namespace turnpike::test_support {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

const std::string* Response::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (equalsIgnoreCase(n, name)) return &v;
  }
  return nullptr;
}

std::string Response::headerOr(std::string_view name, std::string fallback) const {
  const std::string* v = header(name);
  return v ? *v : fallback;
}

nlohmann::json Response::json() const {
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

std::ostream& operator<<(std::ostream& os, const Response& r) {
  if (r.status == 0) return os << "(no response: " << r.error << ")";
  os << "HTTP " << r.status << "\n";
  for (const auto& [n, v] : r.headers) os << n << ": " << v << "\n";
  constexpr size_t kMaxBody = 2000;
  os << "\n" << r.body.substr(0, kMaxBody);
  if (r.body.size() > kMaxBody) os << "... (" << r.body.size() << " bytes)";
  return os;
}

struct HttpClient::Impl {
  explicit Impl(std::chrono::milliseconds t) : timeout(t) {}

  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  std::chrono::milliseconds timeout;
  int connects = 0;

  // Runs the queued handlers until none is left (every operation carries a timeout).
  void runAll() {
    ioc.restart();
    ioc.run();
  }

  beast::error_code connect(const std::string& host, uint16_t port) {
    stream.emplace(ioc);
    buffer.clear();
    beast::error_code ec;
    tcp::endpoint endpoint(asio::ip::make_address(host, ec), port);
    if (ec) return ec;
    stream->expires_after(timeout);
    stream->async_connect(endpoint, [&](beast::error_code e) { ec = e; });
    runAll();
    if (!ec) {
      stream->socket().set_option(tcp::no_delay(true), ec);
      ++connects;
    } else {
      stream.reset();
    }
    return ec;
  }

  void close() {
    if (!stream) return;
    beast::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->socket().close(ignored);
    stream.reset();
    buffer.clear();
  }

  struct Exchange {
    beast::error_code write_ec, read_ec;
    size_t bytes_read = 0;
    std::optional<http::response<http::string_body>> response;
  };

  // Writes the request and reads the answer concurrently, so that a server that answers early
  // (413 before the whole body arrived) and closes is still heard.
  Exchange exchange(const http::request<http::string_body>& req) {
    Exchange x;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u * 1024 * 1024);
    parser.header_limit(1024 * 1024);
    stream->expires_after(timeout);
    bool read_done = false;
    http::async_write(*stream, req, [&](beast::error_code ec, size_t) {
      x.write_ec = ec;
      // A failed write with no answer on the way: stop waiting for the read at once.
      if (ec && !read_done) {
        beast::error_code ignored;
        stream->socket().cancel(ignored);
      }
    });
    http::async_read(*stream, buffer, parser, [&](beast::error_code ec, size_t n) {
      read_done = true;
      x.read_ec = ec;
      x.bytes_read = n;
    });
    runAll();
    if (!x.read_ec) x.response = parser.release();
    return x;
  }
};

HttpClient::HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : host_(std::move(host)), port_(port), impl_(std::make_unique<Impl>(timeout)) {}
HttpClient::~HttpClient() {
  if (impl_) impl_->close();
}
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

void HttpClient::setBearer(std::string token) {
  if (token.empty()) {
    removeDefaultHeader("Authorization");
  } else {
    setDefaultHeader("Authorization", "Bearer " + token);
  }
}

void HttpClient::setDefaultHeader(std::string name, std::string value) {
  removeDefaultHeader(name);
  default_headers_.emplace_back(std::move(name), std::move(value));
}

void HttpClient::removeDefaultHeader(std::string_view name) {
  std::erase_if(default_headers_, [&](const auto& h) { return equalsIgnoreCase(h.first, name); });
}

void HttpClient::close() { impl_->close(); }
int HttpClient::connectCount() const { return impl_->connects; }

Response HttpClient::request(std::string_view method, std::string_view target,
                             std::string_view body, const Headers& headers) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, host_ + ":" + std::to_string(port_));
  auto overridden = [&](std::string_view name) {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const auto& h) { return equalsIgnoreCase(h.first, name); });
  };
  for (const auto& [n, v] : default_headers_) {
    if (!overridden(n)) req.set(n, v);
  }
  for (const auto& [n, v] : headers) req.set(n, v);
  if (!body.empty() && !overridden("Content-Type"))
    req.set(http::field::content_type, "application/json");
  req.body() = std::string(body);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req.prepare_payload();
  }

  Response out;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = impl_->stream.has_value();
    if (!reused) {
      if (beast::error_code ec = impl_->connect(host_, port_)) {
        out.error = "connect to " + host_ + ":" + std::to_string(port_) + ": " + ec.message();
        return out;
      }
    }
    Impl::Exchange x = impl_->exchange(req);
    if (x.response) {
      out.status = static_cast<int>(x.response->result_int());
      for (const auto& field : x.response->base()) {
        out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      out.body = std::move(x.response->body());
      if (!x.response->keep_alive()) impl_->close();
      return out;
    }
    impl_->close();
    // A kept-alive connection the server had already closed: nothing was answered, so retry
    // once on a fresh connection.
    const bool stale =
        reused && x.bytes_read == 0 &&
        (x.read_ec == http::error::end_of_stream || x.read_ec == asio::error::eof ||
         x.read_ec == asio::error::connection_reset ||
         x.read_ec == asio::error::operation_aborted || x.write_ec == asio::error::broken_pipe ||
         x.write_ec == asio::error::connection_reset);
    out.error = "read: " + x.read_ec.message() +
                (x.write_ec ? ", write: " + x.write_ec.message() : std::string());
    if (!stale) return out;
  }
  return out;
}

}  // namespace turnpike::test_support
