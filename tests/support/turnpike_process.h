// TurnpikeProcess: runs the real `turnpike serve` binary for an integration test.
//
// Picks free loopback ports (checked free: SO_REUSEPORT would let a stale process share one),
// makes a temporary directory (mkdtemp) holding the database and the process's stdout/stderr,
// sets TURNPIKE_ADMIN_TOKEN to a random test token, and waits (bounded) until GET /health
// answers 200 from this child (its own listening socket; a port lost to a race is retried on
// new ports). Destruction sends SIGTERM, waits (bounded), then SIGKILL. The directory is
// removed at the end unless a test failed (or TURNPIKE_KEEP_TMP is set): its logs stay for
// debugging and their path is printed.
//
//   TurnpikeProcess tp;
//   ASSERT_TRUE(tp.start());
//   HttpClient admin = tp.adminClient();   // bearer token set
//   ...
//   tp.kill9(); ASSERT_TRUE(tp.restart());  // same database
//
// Not thread-safe; use from the test's thread.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/http_client.h"

namespace turnpike::test_support {

// The path of the binary under test (compile definition TURNPIKE_BINARY).
std::string turnpikeBinary();

// A random printable token ("test-" + 32 hex characters).
std::string randomToken();

// A loopback TCP port nobody listens on, as far as this process can tell.
uint16_t pickFreePort();
// True when nothing can be reached on 127.0.0.1:port and the port can be bound exclusively.
bool portIsFree(uint16_t port);

struct ProcessOptions {
  // TURNPIKE_ADMIN_TOKEN for the child; empty: a random one. Ignored when !set_token_env.
  std::string admin_token;
  // false: TURNPIKE_ADMIN_TOKEN is removed from the child's environment, so the binary uses
  // its stored token or makes one (token() is then empty unless setToken() is called).
  bool set_token_env = true;
  std::vector<std::string> extra_args;  // appended to `turnpike serve ...`
  // The database file; empty: turnpike.db in the process's own directory. Two processes given
  // the same file share one configuration (the second sees the first's writes).
  std::string db_path;
  std::chrono::milliseconds ready_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds stop_timeout = std::chrono::seconds(5);
};

class TurnpikeProcess {
 public:
  explicit TurnpikeProcess(ProcessOptions options = {});
  ~TurnpikeProcess();
  TurnpikeProcess(const TurnpikeProcess&) = delete;
  TurnpikeProcess& operator=(const TurnpikeProcess&) = delete;

  // Starts `turnpike serve` and waits until GET /health answers 200. On failure the message
  // holds the exit status and the tail of the process's stderr and stdout.
  ::testing::AssertionResult start();
  // SIGTERM, bounded wait, then SIGKILL. Returns the wait status (see exitedCleanly()).
  int stop();
  // SIGKILL at once (a crash), and reap.
  void kill9();
  // Starts again on the same database, on new ports (make new clients afterwards).
  ::testing::AssertionResult restart();
  bool running();

  // How the last stopped process ended: true when it exited with status 0.
  bool exitedCleanly() const;
  int lastWaitStatus() const { return last_status_; }

  // A client for the admin listener with the bearer token set (when the token is known).
  HttpClient adminClient() const;
  // A client for the admin listener without any token.
  HttpClient anonymousClient() const;

  uint16_t adminPort() const { return admin_port_; }
  uint16_t proxyPort() const { return proxy_port_; }
  const std::string& token() const { return token_; }
  // The token the clients send (e.g. one the binary printed). Does not change the child's env.
  void setToken(std::string token) { token_ = std::move(token); }
  // For the next start: TURNPIKE_ADMIN_TOKEN=<token> (and clients send it), or, with an empty
  // token, no TURNPIKE_ADMIN_TOKEN at all (clients keep sending the current token).
  void setEnvToken(std::string token);
  const std::string& dir() const { return dir_; }
  std::string dbPath() const {
    return options_.db_path.empty() ? dir_ + "/turnpike.db" : options_.db_path;
  }
  // The running child's process id (-1 when not running), e.g. to read /proc/<pid>/status.
  pid_t pid() const { return pid_; }
  // Everything the process(es) wrote so far to stdout / stderr (all starts, appended).
  std::string stdoutText() const;
  std::string stderrText() const;
  // Keep the directory at the end even if every test passed.
  void keepDir() { keep_dir_ = true; }

 private:
  ::testing::AssertionResult spawn();
  ::testing::AssertionResult spawnOnce(bool* port_clash);
  ::testing::AssertionResult waitReady(bool* port_clash);

  ProcessOptions options_;
  std::string token_;
  std::string dir_;
  uint16_t admin_port_ = 0;
  uint16_t proxy_port_ = 0;
  pid_t pid_ = -1;
  int last_status_ = -1;
  bool keep_dir_ = false;
};

struct CommandResult {
  int exit_code = -1;  // -1 when it did not exit normally (signal, timeout)
  std::string out;
  std::string err;
};

// Runs `turnpike <args>` to completion (bounded by `timeout`, then SIGKILL), capturing stdout
// and stderr. `env` entries ("NAME=value") are added to this process's environment.
CommandResult runTurnpike(const std::vector<std::string>& args,
                          const std::vector<std::string>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A fresh temporary directory (mkdtemp), removed at destruction unless a test failed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// True when the running test, or any test so far, has failed.
bool anyTestFailed();

// Reads a whole file ("" when missing).
std::string readFile(const std::string& path);
bool writeFile(const std::string& path, const std::string& content);

}  // namespace turnpike::test_support
