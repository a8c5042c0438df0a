// UpstreamContext: how one service speaks TLS to its https:// targets (its `tls` settings as an
// OpenSSL client SSL_CTX), and UpstreamContextCache, which makes them when snapshots are built
// and keeps each one for the next build while the service's settings stay the same.
//
//   UpstreamContextCache cache;  // lives as long as the process
//   auto contexts = cache.build(config.services, config.certificates, open_key);  // off workers
//   SSL* ssl = contexts->at(service_id)->newSsl(target.host);  // per connection
//   ... the handshake fails: UpstreamContext::failure(ssl, ec) says why, for the 502
//
// The client policy: TLS 1.2 or 1.3. With `verify` (the default) the target's chain must lead to
// a certificate of the service's `ca`, or of the system store (Debian's ca-certificates) when it
// has none, and its certificate must carry the name asked for: `server_name`, else the target's
// host (a DNS name, or an IP address checked against the certificate's IP entries). SNI goes out
// for DNS names. A `client_certificate` is presented to targets that ask for one (mTLS).
//
// Cost: an SSL_CTX per service with https:// targets, about 150 us to make (plus loading the
// client key); loading the system store happens lazily, per looked-up issuer, from the hashed
// certificate directory.
//
// THREAD: an UpstreamContext is immutable; newSsl() may run on any thread. Builds are serialized.
#pragma once

#include <openssl/ssl.h>

#include <boost/system/error_code.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "model/certificate.h"
#include "model/result.h"
#include "model/service.h"
#include "proxy/string_map.h"
#include "proxy/tls/openssl_util.h"

namespace turnpike::proxy::tls {

class UpstreamContext {
 public:
  // A context for `settings` (the defaults when null). `client` is the certificate named by
  // settings.client_certificate, with its key in `client_key_pem`; null when none. Errors name
  // what did not load.
  [[nodiscard]] static model::Result<std::shared_ptr<const UpstreamContext>> make(
      const model::ServiceTls* settings, const model::Certificate* client,
      std::string_view client_key_pem);

  // A client SSL for a connection to a target whose host is `host`, with SNI and the name to
  // verify set; null when OpenSSL is out of memory. The caller owns it.
  SSL* newSsl(const std::string& host) const;

  // Why a handshake on `ssl` failed with `ec`, for a problem detail and a log line:
  // "certificate verify failed: unable to get local issuer certificate" and the like.
  static std::string failure(SSL* ssl, const boost::system::error_code& ec);

  bool verify() const { return verify_; }
  SSL_CTX* native() const { return ctx_.get(); }

 private:
  UpstreamContext(SslCtxPtr ctx, bool verify, std::string server_name)
      : ctx_(std::move(ctx)), verify_(verify), server_name_(std::move(server_name)) {}

  SslCtxPtr ctx_;
  bool verify_;
  std::string server_name_;  // "" = the target's host
};

// The contexts of the services with https:// targets, by service id.
using UpstreamContexts = StringMap<std::shared_ptr<const UpstreamContext>>;

class UpstreamContextCache {
 public:
  // The plain PEM key of a certificate (unsealing its key_encrypted), or why not.
  using KeyOpener = std::function<model::Result<std::string>(const model::Certificate&)>;

  // Contexts for every service with an https:// target. A service whose settings and client
  // certificate (its PEM and sealed key) are those of the previous build keeps its context.
  // `open_key` gives client certificates' keys (key_pem when null). Fails, naming the service,
  // when a context does not load; nothing is kept from a failed build.
  [[nodiscard]] model::Result<UpstreamContexts> build(
      const std::vector<model::Service>& services,
      const std::vector<model::Certificate>& certificates, const KeyOpener& open_key = nullptr);

 private:
  struct Loaded {
    model::ServiceTls settings;
    std::string client_cert, client_key;  // the client certificate's PEM and (sealed) key
    std::shared_ptr<const UpstreamContext> context;
  };

  std::mutex mu_;
  StringMap<Loaded> by_service_;  // guarded by mu_
};

}  // namespace turnpike::proxy::tls
