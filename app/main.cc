// turnpike: the command line. The only place that knows every part of the program and wires
// them together: storage (SQLite) -> change feed -> config sync -> snapshot registry (proxy),
// and the admin API (Pistache) beside them.
//
//   turnpike serve [--db turnpike.db] [--proxy-listen 0.0.0.0:8000] [--admin-listen 127.0.0.1:8001]
//                  [--keyring-file turnpike.db.keyring]
//   turnpike migrate [--db turnpike.db]
//   turnpike config export [--db turnpike.db] [--output FILE]
//   turnpike config import FILE [--db turnpike.db] [--keyring-file FILE] [--dry-run]

#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "admin/admin_api.h"
#include "admin/admin_auth.h"
#include "admin/admin_server.h"
#include "app/config_sync.h"
#include "app/tls_snapshots.h"
#include "model/config.h"
#include "proxy/access_log.h"
#include "proxy/proxy_server.h"
#include "proxy/snapshot_registry.h"
#include "storage/change_feed.h"
#include "storage/config_store.h"
#include "storage/keyring.h"

namespace {

using turnpike::model::Error;
using turnpike::model::Result;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
// How long tearing down may take after a stop signal before the process exits anyway.
constexpr std::chrono::seconds kTeardownLimit{2};
// How long stopping the admin listener may take (SECURITY.md: a client that stops reading a
// large answer keeps one of Pistache's threads busy, and its stop() joins that thread).
constexpr std::chrono::seconds kAdminStopLimit{2};

struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};

// "host:port", "[v6]:port" or ":port" (all interfaces).
Result<ListenAddress> parseListen(const std::string& text, const std::string& option) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    return Error::invalidField(option, "must be HOST:PORT");
  }
  ListenAddress address;
  address.host = text.substr(0, colon);
  if (address.host.size() >= 2 && address.host.front() == '[' && address.host.back() == ']') {
    address.host = address.host.substr(1, address.host.size() - 2);
  }
  if (address.host.empty()) address.host = "0.0.0.0";
  const std::string port = text.substr(colon + 1);
  char* end = nullptr;
  long value = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || value < 0 || value > 65535) {
    return Error::invalidField(option, "port must be 0..65535");
  }
  address.port = static_cast<uint16_t>(value);
  return address;
}

Result<std::unique_ptr<turnpike::storage::ConfigStore>> openStore(
    const std::string& db, std::shared_ptr<turnpike::storage::ChangeFeed> feed,
    std::shared_ptr<const turnpike::storage::Keyring> keyring = nullptr) {
  return turnpike::storage::ConfigStore::open(db, std::move(feed), std::move(keyring));
}

// The keyring file: `keyring_file`, or when that is empty the file beside the database named
// after it ("turnpike.db.keyring").
std::string keyringPath(const std::string& db, const std::string& keyring_file) {
  return keyring_file.empty() ? db + ".keyring" : keyring_file;
}

// The keyring that seals certificates' private keys, from keyringPath(), made (mode 0600) when
// absent. The key itself is never logged.
Result<std::shared_ptr<const turnpike::storage::Keyring>> openKeyring(
    const std::string& db, const std::string& keyring_file) {
  const std::string path = keyringPath(db, keyring_file);
  bool created = false;
  auto keyring = turnpike::storage::Keyring::loadOrCreate(path, &created);
  if (!keyring) return Error::internal("keyring: " + keyring.error().message);
  if (created) {
    spdlog::info(
        "made a new keyring file {} (mode 0600, keyring id {}): certificates' private keys are "
        "sealed under it; back it up apart from the database",
        path, keyring->id());
  }
  return std::make_shared<const turnpike::storage::Keyring>(std::move(*keyring));
}

int fail(const std::string& what) {
  spdlog::error("{}", what);
  return kExitFailure;
}

// Each client and upstream connection is a descriptor, and the usual soft limit (1024) is far
// below what a gateway holds open: raise it to the hard limit, as nginx's worker_rlimit_nofile
// lets operators do. Returns the limit in effect.
rlim_t raiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return raised.rlim_cur;
  }
  return limit.rlim_cur;
}

struct ServeOptions {
  std::string db = "turnpike.db";
  std::string proxy_listen = "0.0.0.0:8000";
  std::string proxy_listen_tls = "off";
  std::string tls_unknown_sni = "self-signed";
  std::string admin_listen = "127.0.0.1:8001";
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string log_level = "info";
  std::string access_log = "-";
  uint64_t max_body_bytes = turnpike::proxy::ProxyOptions().max_body_bytes;
  std::size_t max_header_bytes = turnpike::proxy::ProxyOptions().max_header_bytes;
  int64_t header_timeout_ms = turnpike::proxy::ProxyOptions().header_timeout.count();
  int64_t idle_timeout_ms = turnpike::proxy::ProxyOptions().idle_timeout.count();
  int64_t client_io_timeout_ms = turnpike::proxy::ProxyOptions().client_io_timeout.count();
  int64_t drain_timeout_ms = turnpike::proxy::ProxyOptions().drain_timeout.count();
  std::string ui_dir;  // empty: the UI built into the binary
  // empty: <db>.keyring
  std::string keyring_file;
};

int serve(const ServeOptions& options) {
  // Block the signals Turnpike handles before any thread starts, so only sigwait() below
  // receives them: SIGINT and SIGTERM stop it; SIGHUP and SIGUSR1 (logrotate's postrotate)
  // reopen the access log file.
  sigset_t handled_signals;
  sigemptyset(&handled_signals);
  sigaddset(&handled_signals, SIGINT);
  sigaddset(&handled_signals, SIGTERM);
  sigaddset(&handled_signals, SIGHUP);
  sigaddset(&handled_signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &handled_signals, nullptr);
  const rlim_t open_files = raiseOpenFileLimit();
  if (open_files != 0 && open_files < 4096) {
    spdlog::warn("open files limited to {} (ulimit -n): each connection needs one", open_files);
  }

  auto admin_address = parseListen(options.admin_listen, "--admin-listen");
  if (!admin_address) return fail(admin_address.error().message);
  auto proxy_address = parseListen(options.proxy_listen, "--proxy-listen");
  if (!proxy_address) return fail(proxy_address.error().message);
  const bool tls = options.proxy_listen_tls != "off";
  Result<ListenAddress> tls_address = ListenAddress{};
  if (tls) tls_address = parseListen(options.proxy_listen_tls, "--proxy-listen-tls");
  if (!tls_address) return fail(tls_address.error().message);

  auto loaded_keyring = openKeyring(options.db, options.keyring_file);
  if (!loaded_keyring) return fail(loaded_keyring.error().message);
  // The keyring stays with the store for the whole run; the proxy side needs it too, to open
  // certificates' keys when it builds its snapshots.
  const std::shared_ptr<const turnpike::storage::Keyring> keyring = std::move(*loaded_keyring);
  auto feed = std::make_shared<turnpike::storage::ChangeFeed>();
  auto store = openStore(options.db, feed, keyring);
  if (!store) return fail(store.error().message);
  // Keys sealed under another keyring would not open: refuse to serve without them.
  if (auto sealed = (*store)->checkSealedKeys(); !sealed) {
    return fail("keyring " + keyringPath(options.db, options.keyring_file) + " (id " +
                keyring->id() + ") does not fit the database: " + sealed.error().message +
                "; start with the keyring file they were sealed under (--keyring-file)");
  }

  const char* env_token = std::getenv("TURNPIKE_ADMIN_TOKEN");
  auto token = turnpike::admin::setUpAdminToken(**store, env_token ? env_token : "");
  if (!token) return fail("admin token: " + token.error().message);

  // Commits by another process on the same file reach this process through the watcher.
  feed->startWatcher(options.db, std::chrono::milliseconds(10));

  turnpike::proxy::ProxyOptions proxy_options;
  proxy_options.host = proxy_address->host;
  proxy_options.port = proxy_address->port;
  proxy_options.workers = options.workers;
  proxy_options.tls = tls;
  proxy_options.tls_host = tls_address->host;
  proxy_options.tls_port = tls_address->port;
  proxy_options.tls_reject_unknown_sni = options.tls_unknown_sni == "reject";
  proxy_options.max_body_bytes = options.max_body_bytes;
  proxy_options.max_header_bytes = options.max_header_bytes;
  proxy_options.header_timeout = std::chrono::milliseconds(options.header_timeout_ms);
  proxy_options.idle_timeout = std::chrono::milliseconds(options.idle_timeout_ms);
  proxy_options.client_io_timeout = std::chrono::milliseconds(options.client_io_timeout_ms);
  proxy_options.drain_timeout = std::chrono::milliseconds(options.drain_timeout_ms);
  if (options.access_log != "off") {
    auto access_log = turnpike::proxy::AccessLogSink::open(options.access_log);
    if (!access_log) return fail("--access-log: " + access_log.error().message);
    proxy_options.access_log = std::move(*access_log);
  }

  // The stored configuration reaches the proxy through the registry: built here once before
  // anything serves, then on every change. A configuration that does not build leaves the proxy
  // on the empty snapshot (every request a 404) and shows in GET /status; we serve anyway. The
  // proxy server exists before the first publish: it listens to publishes to wake its workers.
  turnpike::proxy::SnapshotRegistry registry;
  turnpike::proxy::ProxyServer proxy(registry, proxy_options);
  // Each build also loads the TLS contexts of services with https:// targets and, with a TLS
  // listener, the certificates it serves (keys unsealed).
  turnpike::app::ConfigSync sync(**store, *feed, registry,
                                 turnpike::app::tlsSnapshotBuild(keyring, tls));
  if (auto synced = sync.start(); !synced) {
    spdlog::error("the stored configuration did not build; the proxy starts empty: {}",
                  synced.error().message);
  }
  if (auto started = proxy.start(); !started) {
    return fail("proxy listener " + options.proxy_listen +
                (tls ? " / " + options.proxy_listen_tls : std::string()) + ": " +
                started.error().message);
  }

  turnpike::admin::ProxyHooks hooks;
  hooks.served_versions = [&registry] { return registry.servedVersions(); };
  hooks.last_build = [&sync] { return sync.lastBuild(); };
  hooks.snapshot = [&registry] { return registry.current(); };
  hooks.wait_for_version = [&sync](int64_t version, std::chrono::milliseconds timeout) {
    return sync.waitForVersion(version, timeout);
  };
  hooks.proxy_metrics = [&proxy] { return proxy.metricsText(); };
  auto ui = options.ui_dir.empty() ? turnpike::admin::UiAssets::embedded()
                                   : turnpike::admin::UiAssets::fromDirectory(options.ui_dir);
  turnpike::admin::AdminApi api(**store, turnpike::admin::AdminAuth(token->token_hash),
                                std::move(hooks), std::move(ui));
  turnpike::admin::AdminServer admin_server(api, admin_address->host, admin_address->port, 2);
  if (auto started = admin_server.start(); !started) {
    return fail("admin listener " + options.admin_listen + ": " + started.error().message);
  }

  const std::string admin_url =
      "http://" + admin_address->host + ":" + std::to_string(admin_server.port());
  auto version = (*store)->version();
  std::printf("Turnpike %s serving %s (config version %lld)\n", TURNPIKE_VERSION,
              options.db.c_str(), static_cast<long long>(version.ok() ? *version : 0));
  std::printf("  admin API: %s/\n", admin_url.c_str());
  std::printf("  web UI:    %s/ui/%s\n", admin_url.c_str(),
              options.ui_dir.empty() ? "" : (" (files from " + options.ui_dir + ")").c_str());
  std::printf("  proxy:     http://%s:%u/ (%d worker%s)\n", proxy_address->host.c_str(),
              static_cast<unsigned>(proxy.port()), options.workers,
              options.workers == 1 ? "" : "s");
  if (tls) {
    std::printf("  proxy TLS: https://%s:%u/\n", tls_address->host.c_str(),
                static_cast<unsigned>(proxy.tlsPort()));
  }
  if (!token->new_token.empty()) {
    std::printf("  admin token: %s\n", token->new_token.c_str());
    std::printf(
        "  (shown once; only its SHA-256 is stored. Set TURNPIKE_ADMIN_TOKEN to choose "
        "your own.)\n");
  }
  std::fflush(stdout);

  int signal_number = 0;
  for (;;) {
    sigwait(&handled_signals, &signal_number);
    if (signal_number != SIGHUP && signal_number != SIGUSR1) break;
    if (!proxy_options.access_log) continue;
    if (auto reopened = proxy_options.access_log->reopen(); !reopened) {
      spdlog::error("access log: {}", reopened.error().message);
    } else {
      spdlog::info("received signal {}, reopened the access log {}", signal_number,
                   proxy_options.access_log->destination());
    }
  }
  spdlog::info("received signal {}, shutting down", signal_number);
  std::promise<void> admin_stopping;
  std::future<void> admin_stopped = admin_stopping.get_future();
  std::thread([&admin_server, stopping = std::move(admin_stopping)]() mutable {
    admin_server.stop();
    stopping.set_value();
  }).detach();
  const bool admin_stopped_in_time =
      admin_stopped.wait_for(kAdminStopLimit) == std::future_status::ready;
  if (!admin_stopped_in_time) {
    spdlog::warn(
        "the admin listener did not stop within {} s (a client not reading its answer?);"
        " shutting down without waiting for it",
        kAdminStopLimit.count());
  }
  proxy.stop();  // drains in-flight requests
  sync.stop();
  feed->stopWatcher();
  if (!admin_stopped_in_time) {
    // The admin server's threads are still running: nothing may be destroyed under them.
    // Everything else is stopped and every acknowledged write stored.
    std::fflush(nullptr);
    std::_Exit(kExitOk);
  }

  // Tearing down is all that is left, and it joins Asio's resolver threads (of the workers and
  // the health checker). One may be waiting for a DNS server, and getaddrinfo cannot be
  // cancelled: that can take as long as resolv.conf's timeouts allow. Everything is stopped and
  // stored by now, so a lookup must not hold up the exit.
  std::thread([] {
    std::this_thread::sleep_for(kTeardownLimit);
    std::fflush(nullptr);
    std::_Exit(kExitOk);
  }).detach();
  return kExitOk;
}

int migrate(const std::string& db) {
  auto store = openStore(db, nullptr);  // open() applies pending migrations
  if (!store) return fail(store.error().message);
  auto version = (*store)->version();
  std::printf("database %s is up to date (config version %lld)\n", db.c_str(),
              static_cast<long long>(version.ok() ? *version : 0));
  return kExitOk;
}

int exportConfig(const std::string& db, const std::string& output) {
  auto store = openStore(db, nullptr);
  if (!store) return fail(store.error().message);
  auto config = (*store)->loadConfig();
  if (!config) return fail(config.error().message);
  const std::string text = turnpike::model::toJson(*config).dump(2) + "\n";
  if (output.empty() || output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kExitOk;
  }
  std::ofstream out(output, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) return fail("cannot write " + output);
  return kExitOk;
}

int importConfig(const std::string& db, const std::string& keyring_file, const std::string& file,
                 bool dry_run) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail("cannot read " + file);
  std::stringstream buffer;
  buffer << in.rdbuf();
  nlohmann::json body = nlohmann::json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return fail(file + ": not valid JSON");
  auto config = turnpike::model::parseConfig(body);
  if (!config) {
    std::string text = file + ": " + config.error().message;
    for (const auto& field : config.error().fields) {
      text += "\n  " + field.field + ": " + field.message;
    }
    return fail(text);
  }
  auto keyring = openKeyring(db, keyring_file);
  if (!keyring) return fail(keyring.error().message);
  auto store = openStore(db, nullptr, *keyring);
  if (!store) return fail(store.error().message);
  auto replaced = (*store)->replaceConfig(std::move(*config), {.actor = "cli"}, dry_run);
  if (!replaced) {
    std::string text = replaced.error().message;
    for (const auto& field : replaced.error().fields) {
      text += "\n  " + field.field + ": " + field.message;
    }
    return fail(text);
  }
  for (const auto& change : replaced->changes) {
    const char* action = change.before.is_null()  ? "create"
                         : change.after.is_null() ? "delete"
                                                  : "update";
    std::printf("%s %s %s\n", action, change.entity_type.c_str(), change.entity_id.c_str());
  }
  std::printf("%s: %zu change(s)%s, config version %lld\n", dry_run ? "dry run" : "imported",
              replaced->changes.size(), dry_run ? " not applied" : "",
              static_cast<long long>(replaced->version));
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a peer that hangs up must not kill the gateway
  auto logger = spdlog::stderr_color_mt("turnpike");
  spdlog::set_default_logger(logger);

  CLI::App app{"Turnpike: an API gateway with a live-reloaded SQLite configuration", "turnpike"};
  app.set_version_flag("--version", std::string("turnpike ") + TURNPIKE_VERSION);
  app.require_subcommand(1);

  ServeOptions serve_options;
  auto* serve_cmd = app.add_subcommand("serve", "Run the gateway: proxy and admin API");
  serve_cmd->add_option("--db", serve_options.db, "SQLite database file")
      ->envname("TURNPIKE_DB")
      ->capture_default_str();
  serve_cmd->add_option("--proxy-listen", serve_options.proxy_listen, "Proxy listen HOST:PORT")
      ->envname("TURNPIKE_PROXY_LISTEN")
      ->capture_default_str();
  serve_cmd
      ->add_option("--proxy-listen-tls", serve_options.proxy_listen_tls,
                   "TLS proxy listen HOST:PORT (same workers and routes), or off")
      ->envname("TURNPIKE_PROXY_LISTEN_TLS")
      ->capture_default_str();
  serve_cmd
      ->add_option("--tls-unknown-sni", serve_options.tls_unknown_sni,
                   "When no certificate matches the SNI and none is default: serve the "
                   "self-signed one, or reject the handshake")
      ->envname("TURNPIKE_TLS_UNKNOWN_SNI")
      ->check(CLI::IsMember({"self-signed", "reject"}))
      ->capture_default_str();
  serve_cmd->add_option("--admin-listen", serve_options.admin_listen, "Admin listen HOST:PORT")
      ->envname("TURNPIKE_ADMIN_LISTEN")
      ->capture_default_str();
  serve_cmd->add_option("--workers", serve_options.workers, "Proxy worker threads")
      ->envname("TURNPIKE_WORKERS")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  serve_cmd
      ->add_option("--access-log", serve_options.access_log,
                   "Access log: - (standard output), a file to append to, or off")
      ->envname("TURNPIKE_ACCESS_LOG")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-body-bytes", serve_options.max_body_bytes,
                   "Largest request body the proxy accepts (413 above); 0 = no limit")
      ->envname("TURNPIKE_MAX_BODY_BYTES")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-header-bytes", serve_options.max_header_bytes,
                   "Largest request line and headers the proxy accepts (431 above)")
      ->envname("TURNPIKE_MAX_HEADER_BYTES")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1024 * 1024}))
      ->capture_default_str();
  // Client timeouts, in milliseconds: at least 1 ms, at most a day.
  const auto timeout_range = CLI::Range(int64_t{1}, int64_t{86'400'000});
  serve_cmd
      ->add_option("--header-timeout-ms", serve_options.header_timeout_ms,
                   "From a request's first byte to the end of its headers (408 after)")
      ->envname("TURNPIKE_HEADER_TIMEOUT_MS")
      ->check(timeout_range)
      ->capture_default_str();
  serve_cmd
      ->add_option("--idle-timeout-ms", serve_options.idle_timeout_ms,
                   "How long a client connection may wait for its next request before it closes")
      ->envname("TURNPIKE_IDLE_TIMEOUT_MS")
      ->check(timeout_range)
      ->capture_default_str();
  serve_cmd
      ->add_option("--client-io-timeout-ms", serve_options.client_io_timeout_ms,
                   "A client's stalled body upload (408) or response download (closed)")
      ->envname("TURNPIKE_CLIENT_IO_TIMEOUT_MS")
      ->check(timeout_range)
      ->capture_default_str();
  serve_cmd
      ->add_option("--drain-timeout-ms", serve_options.drain_timeout_ms,
                   "On SIGTERM or SIGINT, how long requests in flight may still finish")
      ->envname("TURNPIKE_DRAIN_TIMEOUT_MS")
      ->check(timeout_range)
      ->capture_default_str();
  serve_cmd
      ->add_option("--ui-dir", serve_options.ui_dir,
                   "Serve the web UI from this folder (web-ui/) instead of the built-in copy, "
                   "read on every request: for working on the UI")
      ->envname("TURNPIKE_UI_DIR")
      ->check(CLI::ExistingDirectory);
  serve_cmd
      ->add_option("--keyring-file", serve_options.keyring_file,
                   "The key that seals certificates' private keys in the database (made, mode "
                   "0600, when absent); default: the database file's name + .keyring")
      ->envname("TURNPIKE_KEYRING_FILE");
  serve_cmd->add_option("--log-level", serve_options.log_level, "trace|debug|info|warn|error")
      ->envname("TURNPIKE_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();

  std::string db = "turnpike.db";
  auto* migrate_cmd = app.add_subcommand("migrate", "Apply pending database migrations and exit");
  migrate_cmd->add_option("--db", db, "SQLite database file")
      ->envname("TURNPIKE_DB")
      ->capture_default_str();

  auto* config_cmd = app.add_subcommand("config", "Export or import the whole configuration");
  config_cmd->require_subcommand(1);
  std::string output;
  auto* export_cmd = config_cmd->add_subcommand("export", "Print the configuration as JSON");
  export_cmd->add_option("--db", db, "SQLite database file")
      ->envname("TURNPIKE_DB")
      ->capture_default_str();
  export_cmd->add_option("--output,-o", output, "Write to FILE instead of standard output");
  std::string import_file;
  bool dry_run = false;
  auto* import_cmd =
      config_cmd->add_subcommand("import", "Replace the configuration with FILE (atomically)");
  import_cmd->add_option("FILE", import_file, "JSON file as written by `config export`")
      ->required()
      ->check(CLI::ExistingFile);
  import_cmd->add_option("--db", db, "SQLite database file")
      ->envname("TURNPIKE_DB")
      ->capture_default_str();
  std::string import_keyring_file;
  import_cmd
      ->add_option("--keyring-file", import_keyring_file,
                   "The keyring that seals certificates' private keys (as for serve)")
      ->envname("TURNPIKE_KEYRING_FILE");
  import_cmd->add_flag("--dry-run", dry_run, "Print the changes without applying them");

  CLI11_PARSE(app, argc, argv);

  if (serve_cmd->parsed()) {
    spdlog::set_level(spdlog::level::from_str(serve_options.log_level));
    return serve(serve_options);
  }
  if (migrate_cmd->parsed()) return migrate(db);
  if (export_cmd->parsed()) return exportConfig(db, output);
  if (import_cmd->parsed()) return importConfig(db, import_keyring_file, import_file, dry_run);
  return kExitFailure;
}
