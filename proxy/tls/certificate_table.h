// CertificateTable: which certificate the TLS listener presents for a server name (SNI), and
// ContextCache, which builds tables and keeps each certificate's SSL_CTX for the next build.
//
//   ContextCache cache;                                     // lives as long as the process
//   auto table = cache.build(certificates);                 // keys unsealed; off the workers
//   if (!table) keep the previous snapshot, log table.error()
//   const ServerContext* picked = (*table)->select(sni);    // in the ClientHello callback
//
// Choice (API.md): the exact name, then a wildcard of exactly one leftmost label
// ("*.example.org" serves "a.example.org", not "a.b.example.org" nor "example.org"), then the
// certificate marked default; null when none applies (the listener then falls back to its
// self-signed certificate, or refuses the handshake).
//
// Reuse: a certificate whose name, PEMs, key and client verification are the same as in the
// previous build keeps its ServerContext (and so its OpenSSL session cache and the work of
// parsing its chain); only changed or new certificates are loaded. Contexts no table uses any
// more are dropped by the build after the one that last used them, and freed when the last
// snapshot holding them goes.
//
// THREAD: a CertificateTable is immutable; any thread may select(). ContextCache::build may be
// called from any thread; builds are serialized.
#pragma once

#include <cstddef>
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

  // A table of `certificates`, each with key_pem filled in. Fails, naming the certificate, when
  // one does not load; nothing is kept from a failed build.
  [[nodiscard]] model::Result<std::shared_ptr<const CertificateTable>> build(
      const std::vector<model::Certificate>& certificates);

  Stats lastBuild() const;

 private:
  mutable std::mutex mu_;
  StringMap<std::shared_ptr<const ServerContext>> by_content_;  // guarded by mu_
  Stats stats_;                                                 // guarded by mu_
};

}  // namespace turnpike::proxy::tls
