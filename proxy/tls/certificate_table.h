// CertificateTable: which certificate the TLS listener presents for a server name (SNI), and
// ContextCache, which builds tables and keeps each certificate's SSL_CTX for the next build.
//
//   ContextCache cache;                                     // lives as long as the process
//   auto table = cache.build(certificates, unseal);         // off the workers
//   if (!table) keep the previous snapshot, log table.error()
//   const ServerContext* picked = (*table)->select(sni);    // in the ClientHello callback
//
// Choice (API.md): the exact name, then a wildcard of exactly one leftmost label
// ("*.example.org" serves "a.example.org", not "a.b.example.org" nor "example.org"), then the
// certificate marked default; null when none applies (the listener then falls back to its
// self-signed certificate, or refuses the handshake).
//
// Reuse: a certificate (by id) whose name, PEMs, key (sealed, or plain when it has no sealed
// form) and client verification are byte for byte those of the previous build keeps its
// ServerContext; only new and changed certificates have their key unsealed and loaded, so a
// configuration change elsewhere costs a comparison per certificate. Contexts no table uses any
// more are dropped from the cache by the next build, and freed when the last snapshot holding
// them goes.
//
// Cost (OpenSSL 3.0, the development machine): about 375 us to load a certificate (a new
// SSL_CTX 145 us, the certificate's public key and the private key through OpenSSL's decoders
// most of the rest), so 10,000 certificates take some 3.7 s at start-up; a build that loads
// nothing new compares them in about 50 ms. Contexts take about 20 KiB each.
//
// THREAD: a CertificateTable is immutable; any thread may select(). ContextCache::build may be
// called from any thread; builds are serialized.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "model/certificate.h"
#include "model/result.h"
#include "proxy/string_map.h"
#include "proxy/tls/server_context.h"

namespace turnpike::proxy::tls {

class CertificateTable {
 public:
  // `server_name` as the client sent it (any case); empty when it sent none. O(1), and no
  // allocation.
  const ServerContext* select(std::string_view server_name) const;

  std::size_t size() const { return contexts_.size(); }
  bool empty() const { return contexts_.empty(); }

 private:
  friend class ContextCache;

  std::vector<std::shared_ptr<const ServerContext>> contexts_;  // one per certificate
  StringMap<const ServerContext*> exact_;                       // "api.example.com"
  StringMap<const ServerContext*> wildcard_;  // ".example.org" for "*.example.org"
  const ServerContext* default_ = nullptr;
};

class ContextCache {
 public:
  struct Stats {
    std::size_t loaded = 0;  // contexts made by the last build
    std::size_t reused = 0;  // contexts the last build took over from the one before
  };

  // The plain PEM key of a certificate (unsealing its key_encrypted), or why not.
  using KeyOpener = std::function<model::Result<std::string>(const model::Certificate&)>;

  // A table of `certificates`. `open_key` is asked for the key of each certificate that must be
  // loaded; without one, key_pem is used. Fails, naming the certificate, when one does not load;
  // nothing is kept from a failed build.
  [[nodiscard]] model::Result<std::shared_ptr<const CertificateTable>> build(
      const std::vector<model::Certificate>& certificates, const KeyOpener& open_key = nullptr);

  Stats lastBuild() const;

 private:
  // What a context was loaded from; equal material, same context.
  struct Loaded {
    std::string name, cert, key, client_ca;  // key: the sealed key, or the plain one
    model::ClientVerify client_verify = model::ClientVerify::kOff;
    std::shared_ptr<const ServerContext> context;
  };

  mutable std::mutex mu_;
  StringMap<Loaded> by_id_;  // guarded by mu_
  Stats stats_;              // guarded by mu_
};

}  // namespace turnpike::proxy::tls
