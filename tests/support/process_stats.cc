#include "tests/support/process_stats.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

namespace turnpike::test_support {
namespace {

std::string procPath(pid_t pid, const char* what) {
  return "/proc/" + std::to_string(pid) + "/" + what;
}

uint64_t parseLimit(const std::string& text) {
  if (text == "unlimited") return std::numeric_limits<uint64_t>::max();
  return std::strtoull(text.c_str(), nullptr, 10);
}

// A "<field>:  1234 kB" line of /proc/<pid>/status, in bytes; 0 when unreadable.
uint64_t statusBytes(pid_t pid, std::string_view field) {
  if (pid <= 0) return 0;
  std::ifstream in(procPath(pid, "status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':') {
      return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10) * 1024;
    }
  }
  return 0;
}

}  // namespace

int openFdCount(pid_t pid) {
  if (pid <= 0) return -1;
  DIR* dir = ::opendir(procPath(pid, "fd").c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count;
}

uint64_t rssBytes(pid_t pid) { return statusBytes(pid, "VmRSS"); }

uint64_t peakRssBytes(pid_t pid) { return statusBytes(pid, "VmHWM"); }

bool processAlive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream in(procPath(pid, "stat"));
  std::string stat;
  std::getline(in, stat);
  // "pid (comm) S ...": the state follows the last ')' (comm may hold one).
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  const char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

std::optional<FdLimits> fdLimits(pid_t pid) {
  std::ifstream in(procPath(pid, "limits"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(std::string("Max open files").size()));
    std::string soft, hard;
    if (!(fields >> soft >> hard)) return std::nullopt;
    return FdLimits{.soft = parseLimit(soft), .hard = parseLimit(hard)};
  }
  return std::nullopt;
}

::testing::AssertionResult fdCountSettles(pid_t pid, int limit, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int count = openFdCount(pid);
  while (count < 0 || count > limit) {
    if (count < 0) {
      return ::testing::AssertionFailure() << "process " << pid << " is gone (no /proc/fd)";
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return ::testing::AssertionFailure()
             << "process " << pid << " still has " << count << " open descriptors after "
             << timeout.count() << " ms; expected at most " << limit;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    count = openFdCount(pid);
  }
  return ::testing::AssertionSuccess();
}

int settledFdCount(pid_t pid, std::chrono::milliseconds quiet, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int previous = openFdCount(pid);
  for (;;) {
    std::this_thread::sleep_for(quiet);
    const int now = openFdCount(pid);
    if (now == previous || std::chrono::steady_clock::now() >= deadline) return now;
    previous = now;
  }
}

uint64_t raiseOwnFdLimit(uint64_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= wanted) return limit.rlim_cur;
  rlim_t target = wanted;
  if (limit.rlim_max != RLIM_INFINITY && target > limit.rlim_max) target = limit.rlim_max;
  rlimit raised = limit;
  raised.rlim_cur = target;
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) return limit.rlim_cur;
  return target;
}

}  // namespace turnpike::test_support
