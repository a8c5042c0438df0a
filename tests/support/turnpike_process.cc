#include "tests/support/turnpike_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace turnpike::test_support {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr const char* kTokenVariable = "TURNPIKE_ADMIN_TOKEN";

// A loopback socket bound to `port` (0 = any) without SO_REUSEPORT; -1 when bind fails.
int bindLoopback(uint16_t port, bool reuse_addr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (reuse_addr) {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

uint16_t boundPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

bool somethingListens(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return connected;
}

// The last `max` bytes of a file, for failure messages.
std::string tail(const std::string& path, size_t max = 4000) {
  std::string text = readFile(path);
  if (text.size() > max) text = "..." + text.substr(text.size() - max);
  return text;
}

std::string describeStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// argv/envp arrays that stay valid across fork() (built before it: the child only execs).
struct ExecArgs {
  std::vector<std::string> argv_storage, env_storage;
  std::vector<char*> argv, envp;

  ExecArgs(std::vector<std::string> args, const std::vector<std::string>& remove_env,
           const std::vector<std::string>& add_env)
      : argv_storage(std::move(args)) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view entry(*e);
      bool removed = false;
      for (const auto& name : remove_env) {
        if (entry.starts_with(name + "=")) removed = true;
      }
      for (const auto& add : add_env) {
        if (entry.starts_with(add.substr(0, add.find('=') + 1))) removed = true;
      }
      if (!removed) env_storage.emplace_back(entry);
    }
    for (const auto& add : add_env) env_storage.push_back(add);
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
};

// fork + exec with stdin from /dev/null and stdout/stderr appended to the given files. The
// child dies with this process (PR_SET_PDEATHSIG) so that a crashed test leaves no server.
pid_t spawnProcess(ExecArgs& exec, const std::string& out_path, const std::string& err_path,
                   std::string* error) {
  int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (in_fd < 0 || out_fd < 0 || err_fd < 0) {
    *error = std::string("open log files: ") + std::strerror(errno);
    for (int fd : {in_fd, out_fd, err_fd}) {
      if (fd >= 0) ::close(fd);
    }
    return -1;
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execve(exec.argv[0], exec.argv.data(), exec.envp.data());
    const char msg[] = "turnpike test support: execve failed\n";
    ssize_t ignored = ::write(2, msg, sizeof msg - 1);
    (void)ignored;
    ::_exit(127);
  }
  for (int fd : {in_fd, out_fd, err_fd}) ::close(fd);
  if (pid < 0) *error = std::string("fork: ") + std::strerror(errno);
  return pid;
}

// Waits up to `timeout` for `pid`; true (and *status set) when it ended.
bool waitFor(pid_t pid, milliseconds timeout, int* status) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return true;  // not our child any more
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
}

// The socket inodes listening on 127.0.0.1:port or 0.0.0.0:port (from /proc/net/tcp).
std::vector<std::string> listeningInodes(uint16_t port) {
  std::vector<std::string> inodes;
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  char wanted[8];
  std::snprintf(wanted, sizeof wanted, ":%04X", port);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
        timeout >> inode;
    if (state == "0A" && local.ends_with(wanted)) inodes.push_back(inode);
  }
  return inodes;
}

// True when process `pid` holds a socket listening on `port`: the server that answered is the
// one this test started, not a stale one sharing the port (SO_REUSEPORT).
bool listensOn(pid_t pid, uint16_t port) {
  std::vector<std::string> inodes = listeningInodes(port);
  std::error_code ec;
  for (const auto& fd :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code link_ec;
    std::string target = std::filesystem::read_symlink(fd.path(), link_ec).string();
    for (const auto& inode : inodes) {
      if (target == "socket:[" + inode + "]") return true;
    }
  }
  return false;
}

std::string makeTempDir(const char* prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/" + prefix + "XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return "";
  return std::string(buf.data());
}

bool keepRequested() {
  const char* keep = std::getenv("TURNPIKE_KEEP_TMP");
  return keep != nullptr && *keep != '\0' && std::string(keep) != "0";
}

void removeOrKeep(const std::string& dir, bool keep) {
  if (dir.empty()) return;
  if (keep || anyTestFailed() || keepRequested()) {
    std::fprintf(stderr, "[turnpike test] kept %s (logs: stdout.log, stderr.log)\n", dir.c_str());
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace

std::string turnpikeBinary() {
  if (const char* env = std::getenv("TURNPIKE_BINARY"); env != nullptr && *env != '\0') {
    return env;
  }
#ifdef TURNPIKE_BINARY
  return TURNPIKE_BINARY;
#else
  return "turnpike";
#endif
}

std::string randomToken() {
  unsigned char bytes[16] = {};
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  urandom.read(reinterpret_cast<char*>(bytes), sizeof bytes);
  static const char kHex[] = "0123456789abcdef";
  std::string token = "test-";
  for (unsigned char b : bytes) {
    token += kHex[b >> 4];
    token += kHex[b & 15];
  }
  return token;
}

bool portIsFree(uint16_t port) {
  if (port == 0 || somethingListens(port)) return false;
  // SO_REUSEADDR as a server would set it (a TIME_WAIT leftover does not count), but no
  // SO_REUSEPORT: a listener that allows sharing still makes this bind fail.
  int fd = bindLoopback(port, /*reuse_addr=*/true);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

uint16_t pickFreePort() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = bindLoopback(0, /*reuse_addr=*/false);
    if (fd < 0) continue;
    uint16_t port = boundPort(fd);
    ::close(fd);
    if (portIsFree(port)) return port;
  }
  return 0;
}

bool anyTestFailed() {
  if (::testing::Test::HasFailure()) return true;
  const auto* unit = ::testing::UnitTest::GetInstance();
  if (const auto* suite = unit->current_test_suite();
      suite != nullptr &&
      (suite->failed_test_count() > 0 || suite->ad_hoc_test_result().Failed())) {
    return true;
  }
  return unit->failed_test_count() > 0 || unit->ad_hoc_test_result().Failed();
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool writeFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  return static_cast<bool>(out);
}

TempDir::TempDir() : path_(makeTempDir("turnpike-test-")) {}
TempDir::~TempDir() { removeOrKeep(path_, false); }

TurnpikeProcess::TurnpikeProcess(ProcessOptions options) : options_(std::move(options)) {
  if (options_.set_token_env) {
    token_ = options_.admin_token.empty() ? randomToken() : options_.admin_token;
  }
}

void TurnpikeProcess::setEnvToken(std::string token) {
  options_.set_token_env = !token.empty();
  options_.admin_token = token;
  if (!token.empty()) token_ = std::move(token);
}

TurnpikeProcess::~TurnpikeProcess() {
  stop();
  removeOrKeep(dir_, keep_dir_);
}

::testing::AssertionResult TurnpikeProcess::start() {
  if (pid_ > 0) return ::testing::AssertionFailure() << "already running (pid " << pid_ << ")";
  if (dir_.empty()) {
    dir_ = makeTempDir("turnpike-it-");
    if (dir_.empty()) {
      return ::testing::AssertionFailure() << "mkdtemp: " << std::strerror(errno);
    }
  }
  return spawn();
}

::testing::AssertionResult TurnpikeProcess::restart() {
  if (pid_ > 0) stop();
  return spawn();
}

::testing::AssertionResult TurnpikeProcess::spawn() {
  // Another test process may take a port between our check and the child's bind; then the
  // start is retried on new ports.
  constexpr int kAttempts = 3;
  ::testing::AssertionResult result = ::testing::AssertionFailure();
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    bool port_clash = false;
    result = spawnOnce(&port_clash);
    if (result || !port_clash) return result;
    std::fprintf(stderr, "[turnpike test] port clash on %u/%u; retrying on new ports\n",
                 admin_port_, proxy_port_);
  }
  return result;
}

::testing::AssertionResult TurnpikeProcess::spawnOnce(bool* port_clash) {
  // Fresh ports every start: the old ones may still be in TIME_WAIT or, after a crash, held
  // for a moment.
  admin_port_ = pickFreePort();
  do {
    proxy_port_ = pickFreePort();
  } while (proxy_port_ == admin_port_ && admin_port_ != 0);
  if (admin_port_ == 0 || proxy_port_ == 0) {
    return ::testing::AssertionFailure() << "no free loopback port found";
  }

  std::vector<std::string> args = {turnpikeBinary(), "serve",
                                   "--db",           dbPath(),
                                   "--admin-listen", "127.0.0.1:" + std::to_string(admin_port_),
                                   "--proxy-listen", "127.0.0.1:" + std::to_string(proxy_port_)};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<std::string> add_env;
  if (options_.set_token_env) add_env.push_back(std::string(kTokenVariable) + "=" + token_);
  ExecArgs exec(args, {kTokenVariable}, add_env);

  // Marks each start in the logs, so that the output of several starts can be told apart.
  std::string banner = "---- start on admin port " + std::to_string(admin_port_) + " ----\n";
  for (const char* log : {"/stdout.log", "/stderr.log"}) {
    std::ofstream(dir_ + log, std::ios::app) << banner;
  }

  std::string error;
  pid_ = spawnProcess(exec, dir_ + "/stdout.log", dir_ + "/stderr.log", &error);
  if (pid_ < 0) return ::testing::AssertionFailure() << error;
  const size_t log_start = readFile(dir_ + "/stderr.log").size();
  ::testing::AssertionResult ready = waitReady(port_clash);
  if (!ready && !*port_clash) {
    std::string log = readFile(dir_ + "/stderr.log");
    *port_clash =
        log.size() > log_start && log.find("in use", log_start) != std::string::npos;  // EADDRINUSE
  }
  return ready;
}

::testing::AssertionResult TurnpikeProcess::waitReady(bool* port_clash) {
  const auto deadline = Clock::now() + options_.ready_timeout;
  std::string last;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      last_status_ = status;
      return ::testing::AssertionFailure()
             << "turnpike " << describeStatus(status) << " before it was ready\n--- stderr:\n"
             << tail(dir_ + "/stderr.log") << "\n--- stdout:\n"
             << tail(dir_ + "/stdout.log");
    }
    HttpClient probe("127.0.0.1", admin_port_, milliseconds(500));
    Response r = probe.get("/health");
    if (r.status == 200) {
      if (listensOn(pid_, admin_port_)) return ::testing::AssertionSuccess();
      *port_clash = true;
      stop();
      return ::testing::AssertionFailure()
             << "another process answers on admin port " << admin_port_;
    }
    last = r.status == 0 ? r.error : "HTTP " + std::to_string(r.status);
    std::this_thread::sleep_for(milliseconds(20));
  }
  stop();
  return ::testing::AssertionFailure()
         << "turnpike not ready after " << options_.ready_timeout.count()
         << " ms (last GET /health: " << last << ")\n--- stderr:\n"
         << tail(dir_ + "/stderr.log") << "\n--- stdout:\n"
         << tail(dir_ + "/stdout.log");
}

int TurnpikeProcess::stop() {
  if (pid_ <= 0) return last_status_;
  ::kill(pid_, SIGTERM);
  int status = 0;
  if (!waitFor(pid_, options_.stop_timeout, &status)) {
    std::fprintf(stderr, "[turnpike test] pid %d ignored SIGTERM for %lld ms; SIGKILL\n", pid_,
                 static_cast<long long>(options_.stop_timeout.count()));
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  last_status_ = status;
  return status;
}

void TurnpikeProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  last_status_ = status;
}

bool TurnpikeProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    last_status_ = status;
    return false;
  }
  return true;
}

bool TurnpikeProcess::exitedCleanly() const {
  return last_status_ >= 0 && WIFEXITED(last_status_) && WEXITSTATUS(last_status_) == 0;
}

HttpClient TurnpikeProcess::adminClient() const {
  HttpClient client("127.0.0.1", admin_port_);
  client.setBearer(token_);
  return client;
}

HttpClient TurnpikeProcess::anonymousClient() const { return HttpClient("127.0.0.1", admin_port_); }

std::string TurnpikeProcess::stdoutText() const { return readFile(dir_ + "/stdout.log"); }
std::string TurnpikeProcess::stderrText() const { return readFile(dir_ + "/stderr.log"); }

CommandResult runTurnpike(const std::vector<std::string>& args, const std::vector<std::string>& env,
                          milliseconds timeout) {
  CommandResult result;
  std::string dir = makeTempDir("turnpike-cmd-");
  if (dir.empty()) {
    result.err = std::string("mkdtemp: ") + std::strerror(errno);
    return result;
  }
  std::vector<std::string> argv = {turnpikeBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  ExecArgs exec(argv, {}, env);
  std::string error;
  pid_t pid = spawnProcess(exec, dir + "/out", dir + "/err", &error);
  if (pid < 0) {
    result.err = error;
  } else {
    int status = 0;
    if (!waitFor(pid, timeout, &status)) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = readFile(dir + "/out");
    result.err = readFile(dir + "/err");
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return result;
}

}  // namespace turnpike::test_support
