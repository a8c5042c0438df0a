// tlsSnapshotBuild: the ConfigSync build function of a process with a TLS listener. It builds
// the snapshot together with the listener's certificate table (proxy/tls/certificate_table.h),
// opening each certificate's sealed key with the keyring; certificates unchanged since the
// previous build keep their loaded contexts and are not unsealed again.
//
//   app::ConfigSync sync(store, feed, registry, app::tlsSnapshotBuild(keyring));
//
// A certificate whose key does not open or load fails the build (the proxy keeps serving its
// previous snapshot, and /status shows why); start-up refuses a keyring that does not fit the
// database before it gets here.
//
// THREAD: the returned function is called by ConfigSync, one build at a time.
#pragma once

#include <memory>

#include "app/config_sync.h"
#include "storage/keyring.h"

namespace turnpike::app {

ConfigSync::BuildFunction tlsSnapshotBuild(std::shared_ptr<const storage::Keyring> keyring);

}  // namespace turnpike::app
