#include "app/tls_snapshots.h"

#include <utility>

#include "proxy/snapshot_builder.h"
#include "proxy/tls/certificate_table.h"

namespace turnpike::app {

ConfigSync::BuildFunction tlsSnapshotBuild(std::shared_ptr<const storage::Keyring> keyring,
                                           bool listener) {
  struct Caches {
    proxy::tls::ContextCache certificates;
    proxy::tls::UpstreamContextCache upstream;
  };
  auto caches = std::make_shared<Caches>();
  return [caches, keyring = std::move(keyring),
          listener](model::Config&& config) -> model::Result<proxy::SnapshotConstSharedPtr> {
    auto open_key = [&keyring](const model::Certificate& c) {
      return keyring->unseal(c.key_encrypted, c.id);
    };
    proxy::TlsMaterial material;
    if (listener) {
      auto table = caches->certificates.build(config.certificates, open_key);
      if (!table) return table.error();
      material.certificates = std::move(*table);
    }
    auto upstream = caches->upstream.build(config.services, config.certificates, open_key);
    if (!upstream) return upstream.error();
    material.upstream = std::move(*upstream);
    return proxy::SnapshotBuilder::build(std::move(config), std::move(material));
  };
}

}  // namespace turnpike::app
