// turnpike-test-upstream: the TestUpstream server as a process, for the bench and manual runs.
//
//   turnpike-test-upstream [--name N] [--port P] [--threads T]
//
// Prints "listening 127.0.0.1:PORT" on stdout once it accepts connections, then serves until
// SIGTERM or SIGINT, and exits 0. Exits 1 when the port cannot be bound.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>

#include "tests/support/test_upstream.h"

int main(int argc, char** argv) {
  CLI::App app{"A test HTTP/1.1 upstream: JSON echo, behaviour chosen by query parameters."};
  std::string name = "upstream";
  uint16_t port = 0;
  int threads = 1;
  app.add_option("--name", name, "Name reported in the echo and X-Upstream");
  app.add_option("--port", port, "Port on 127.0.0.1 (0: any free port)");
  app.add_option("--threads", threads, "Threads running the server")->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);

  // Blocked before the server threads start, so that only sigwait() below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  turnpike::test::TestUpstream upstream(name, threads);
  try {
    upstream.start(port);
  } catch (const std::exception& e) {
    std::cerr << "turnpike-test-upstream: cannot listen on 127.0.0.1:" << port << ": " << e.what()
              << "\n";
    return 1;
  }
  std::cout << "listening 127.0.0.1:" << upstream.port() << std::endl;

  int received = 0;
  sigwait(&signals, &received);
  upstream.stop();
  return 0;
}
