#include "tests/support/tls_front.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

namespace turnpike::test {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

std::string subjectOf(SSL* handle) {
  X509* peer = SSL_get1_peer_certificate(handle);
  if (peer == nullptr) return "";
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  X509_free(peer);
  return out;
}

// A relayed connection: both coroutines that pump it hold it.
struct Link {
  Link(tcp::socket socket, ssl::context& context)
      : client(std::move(socket), context), backend(client.get_executor()) {}
  ssl::stream<tcp::socket> client;
  tcp::socket backend;
};

// Copies `from` into `to` until `from` ends, then ends `to`'s sending side. `link` keeps both
// alive while it runs.
template <class From, class To>
asio::awaitable<void> pump([[maybe_unused]] std::shared_ptr<Link> link, From& from, To& to,
                           tcp::socket& to_socket) {
  std::array<char, 16 * 1024> piece;
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(piece), kNoThrow);
    if (ec) break;
    auto [write_ec, written] =
        co_await asio::async_write(to, asio::buffer(piece.data(), n), kNoThrow);
    if (write_ec) break;
  }
  boost::system::error_code ignored;
  to_socket.shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

struct TlsFront::Impl {
  uint16_t backend_port;
  TlsFrontOptions options;
  asio::io_context ioc;
  ssl::context context{ssl::context::tls_server};
  std::optional<tcp::acceptor> acceptor;
  std::thread thread;
  uint16_t port = 0;
  std::atomic<uint64_t> handshakes{0};
  std::atomic<uint64_t> failed{0};
  mutable std::mutex mu;
  std::string last_subject;  // guarded by mu

  asio::awaitable<void> serve(tcp::socket socket) {
    auto link = std::make_shared<Link>(std::move(socket), context);
    auto [ec] = co_await link->client.async_handshake(ssl::stream_base::server, kNoThrow);
    if (ec) {
      failed.fetch_add(1);
      co_return;
    }
    handshakes.fetch_add(1);
    {
      std::lock_guard lock(mu);
      last_subject = subjectOf(link->client.native_handle());
    }
    auto [connect_ec] = co_await link->backend.async_connect(
        tcp::endpoint(asio::ip::address_v4::loopback(), backend_port), kNoThrow);
    if (connect_ec) co_return;
    // Both directions at once: answers flow back while the request side still does.
    auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(executor, pump(link, link->backend, link->client, link->client.next_layer()),
                   asio::detached);
    co_await pump(link, link->client, link->backend, link->backend);
  }

  asio::awaitable<void> acceptLoop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(kNoThrow);
      if (ec) co_return;
      asio::co_spawn(ioc, serve(std::move(socket)), asio::detached);
    }
  }
};

TlsFront::TlsFront(uint16_t backend_port, TlsFrontOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->backend_port = backend_port;
  impl_->options = std::move(options);
}

TlsFront::~TlsFront() { stop(); }

void TlsFront::start() {
  Impl& d = *impl_;
  boost::system::error_code ec;
  d.context.use_certificate_chain(asio::buffer(d.options.cert_pem), ec);
  if (!ec) d.context.use_private_key(asio::buffer(d.options.key_pem), ssl::context::pem, ec);
  if (ec) throw std::runtime_error("TlsFront: certificate or key: " + ec.message());
  if (!d.options.client_ca_pem.empty()) {
    d.context.add_certificate_authority(asio::buffer(d.options.client_ca_pem), ec);
    if (ec) throw std::runtime_error("TlsFront: client CA: " + ec.message());
    d.context.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  d.acceptor.emplace(d.ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  d.port = d.acceptor->local_endpoint().port();
  asio::co_spawn(d.ioc, d.acceptLoop(), asio::detached);
  d.thread = std::thread([&d] { d.ioc.run(); });
}

void TlsFront::stop() {
  Impl& d = *impl_;
  if (!d.thread.joinable()) return;
  d.ioc.stop();
  d.thread.join();
}

uint16_t TlsFront::port() const { return impl_->port; }
uint64_t TlsFront::handshakes() const { return impl_->handshakes.load(); }
uint64_t TlsFront::failedHandshakes() const { return impl_->failed.load(); }
std::string TlsFront::lastClientSubject() const {
  std::lock_guard lock(impl_->mu);
  return impl_->last_subject;
}

}  // namespace turnpike::test
