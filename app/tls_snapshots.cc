#include "app/tls_snapshots.h"

#include <utility>

#include "proxy/snapshot_builder.h"
#include "proxy/tls/certificate_table.h"

namespace turnpike::app {

ConfigSync::BuildFunction tlsSnapshotBuild(std::shared_ptr<const storage::Keyring> keyring) {
  auto cache = std::make_shared<proxy::tls::ContextCache>();
  return [cache, keyring = std::move(keyring)](
             model::Config&& config) -> model::Result<proxy::SnapshotConstSharedPtr> {
    auto table = cache->build(config.certificates, [&keyring](const model::Certificate& c) {
      return keyring->unseal(c.key_encrypted, c.id);
    });
    if (!table) return table.error();
    return proxy::SnapshotBuilder::build(std::move(config), std::move(*table));
  };
}

}  // namespace turnpike::app
