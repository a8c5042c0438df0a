// tlsSnapshotBuild: the ConfigSync build function of the serving process. It builds the snapshot
// together with its TLS material (proxy/snapshot_builder.h): the TLS contexts of services with
// https:// targets (proxy/tls/upstream_context.h) and, with `listener`, the TLS listener's
// certificate table (proxy/tls/certificate_table.h). Keys (certificates served, client
// certificates presented to targets) are opened with the keyring; what is unchanged since the
// previous build keeps its loaded context and is not unsealed again.
//
//   app::ConfigSync sync(store, feed, registry, app::tlsSnapshotBuild(keyring, listener));
//
// A key that does not open or load fails the build (the proxy keeps serving its previous
// snapshot, and /status shows why); start-up refuses a keyring that does not fit the database
// before it gets here.
//
// THREAD: the returned function is called by ConfigSync, one build at a time.
#pragma once

#include <memory>

#include "app/config_sync.h"
#include "storage/keyring.h"

namespace turnpike::app {

ConfigSync::BuildFunction tlsSnapshotBuild(std::shared_ptr<const storage::Keyring> keyring,
                                           bool listener = true);

}  // namespace turnpike::app
