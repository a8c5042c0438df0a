#include "tests/support/tls_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

namespace turnpike::test_support {
namespace {

std::string opensslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? "unknown TLS error" : out;
}

bool loadPem(SSL_CTX* ctx, const std::string& cert_pem, const std::string& key_pem) {
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  const bool ok = cert != nullptr && key != nullptr && SSL_CTX_use_certificate(ctx, cert) == 1 &&
                  SSL_CTX_use_PrivateKey(ctx, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  return ok;
}

bool addCa(SSL_CTX* ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    added += X509_STORE_add_cert(store, cert) == 1;
    X509_free(cert);
  }
  ERR_clear_error();
  BIO_free(bio);
  return added > 0;
}

}  // namespace

TlsConnection::Opened TlsConnection::open(uint16_t port, const TlsClientOptions& o) {
  Opened out;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, o.min_version);
  SSL_CTX_set_max_proto_version(ctx, o.max_version);
  if (o.min_version < TLS1_2_VERSION) SSL_CTX_set_security_level(ctx, 0);  // let it offer 1.0
  // No client session cache: the context dies with the connection, and a cached session is
  // marked unresumable when its cache goes. session() hands the session out instead.
  if (!o.ca_pem.empty()) {
    addCa(ctx, o.ca_pem);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (!o.cert_pem.empty() && !loadPem(ctx, o.cert_pem, o.key_pem)) {
    out.error = "cannot load the client certificate: " + opensslError();
    SSL_CTX_free(ctx);
    return out;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{static_cast<time_t>(o.timeout.count() / 1000),
             static_cast<suseconds_t>(o.timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    out.error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    SSL_CTX_free(ctx);
    return out;
  }
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (!o.server_name.empty()) {
    SSL_set_tlsext_host_name(ssl, o.server_name.c_str());
    if (!o.ca_pem.empty()) SSL_set1_host(ssl, o.server_name.c_str());
  }
  if (!o.alpn.empty()) {
    std::string wire;
    for (const std::string& p : o.alpn) wire += static_cast<char>(p.size()) + p;
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned int>(wire.size()));
  }
  if (o.resume != nullptr) SSL_set_session(ssl, o.resume);
  std::unique_ptr<TlsConnection> connection(new TlsConnection(fd, ctx, ssl));
  if (SSL_connect(ssl) != 1) {
    out.error = opensslError();
    return out;  // the connection's destructor frees everything
  }
  out.connection = std::move(connection);
  return out;
}

TlsConnection::~TlsConnection() {
  SSL_shutdown(ssl_);  // close_notify: the session stays resumable
  SSL_free(ssl_);
  SSL_CTX_free(ctx_);
  ::close(fd_);
}

std::string TlsConnection::peerCommonName() const {
  X509* peer = SSL_get0_peer_certificate(ssl_);
  if (peer == nullptr) return "";
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
  return cn;
}

std::string TlsConnection::version() const { return SSL_get_version(ssl_); }

std::string TlsConnection::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int size = 0;
  SSL_get0_alpn_selected(ssl_, &data, &size);
  return std::string(reinterpret_cast<const char*>(data), size);
}

bool TlsConnection::resumed() const { return SSL_session_reused(ssl_) == 1; }

SessionPtr TlsConnection::session() const { return SessionPtr(SSL_get1_session(ssl_)); }

Response TlsConnection::request(std::string_view method, std::string_view target,
                                std::string_view host, const Headers& headers,
                                std::string_view body) {
  Response r;
  std::string wire = std::string(method) + " " + std::string(target) +
                     " HTTP/1.1\r\nHost: " + std::string(host) + "\r\n";
  for (const auto& [name, value] : headers) wire += name + ": " + value + "\r\n";
  if (!body.empty()) wire += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  wire += "\r\n";
  wire += body;
  if (SSL_write(ssl_, wire.data(), static_cast<int>(wire.size())) <= 0) {
    r.error = "write: " + opensslError();
    return r;
  }
  auto fill = [this]() {
    char chunk[16384];
    const int n = SSL_read(ssl_, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffered_.append(chunk, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t end;
  while ((end = buffered_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) {
      r.error = "read: the connection ended before the response head";
      return r;
    }
  }
  const std::string head = buffered_.substr(0, end);
  buffered_.erase(0, end + 4);
  std::size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  if (status_line.size() < 12) {
    r.error = "bad status line: " + status_line;
    return r;
  }
  r.status = std::stoi(status_line.substr(9, 3));
  std::optional<std::size_t> length;
  while (line_end != std::string::npos) {
    const std::size_t next = head.find("\r\n", line_end + 2);
    const std::string line = head.substr(line_end + 2, next - line_end - 2);
    line_end = next;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "content-length") length = std::stoul(value);
    r.headers.emplace_back(std::move(name), std::move(value));
  }
  if (method == "HEAD" || r.status == 204 || r.status == 304) return r;
  if (length) {
    while (buffered_.size() < *length) {
      if (!fill()) {
        r.error = "read: the connection ended in the body";
        return r;
      }
    }
    r.body = buffered_.substr(0, *length);
    buffered_.erase(0, *length);
  } else {
    while (fill()) {
    }
    r.body = std::move(buffered_);
    buffered_.clear();
  }
  return r;
}

}  // namespace turnpike::test_support
