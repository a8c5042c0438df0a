#include "proxy/upstream/connection_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <boost/container_hash/hash.hpp>
#include <cerrno>

namespace turnpike::proxy::upstream {

ConnectionPool::ConnectionPool(std::size_t max_idle_per_target,
                               std::chrono::milliseconds idle_timeout)
    : max_idle_per_target_(max_idle_per_target), idle_timeout_(idle_timeout) {}

ConnectionPool::~ConnectionPool() = default;

std::unique_ptr<UpstreamConnection> ConnectionPool::take(std::string_view key) {
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  std::unique_ptr<UpstreamConnection> connection = std::move(it->second.back());
  it->second.pop_back();
  --idle_count_;
  return connection;
}

void ConnectionPool::put(std::unique_ptr<UpstreamConnection> connection, Clock::time_point now) {
  // Bytes past the response (read, or held decrypted by TLS) belong to no request: not reusable.
  if (connection->buffer.size() != 0 || connection->stream.tlsPending()) return;
  auto it = idle_.find(std::string_view(connection->key));
  if (it == idle_.end()) it = idle_.try_emplace(connection->key).first;
  if (it->second.size() >= max_idle_per_target_) return;  // closes `connection`
  connection->idle_since = now;
  it->second.push_back(std::move(connection));
  ++idle_count_;
}

std::size_t ConnectionPool::sweep(Clock::time_point now) {
  std::size_t closed = 0;
  for (auto& [key, list] : idle_) {
    // Oldest first in the vector (put() appends): erase the expired prefix.
    auto fresh = std::find_if(list.begin(), list.end(), [&](const auto& connection) {
      return now - connection->idle_since < idle_timeout_;
    });
    closed += static_cast<std::size_t>(fresh - list.begin());
    list.erase(list.begin(), fresh);
  }
  boost::unordered::erase_if(idle_, [](const auto& entry) { return entry.second.empty(); });
  idle_count_ -= closed;
  return closed;
}

void ConnectionPool::clear() {
  idle_.clear();
  idle_count_ = 0;
}

bool ConnectionPool::isClosedByPeer(UpstreamConnection& connection) {
  char byte;
  ssize_t n = ::recv(connection.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;                                              // orderly close
  if (n > 0) return true;                                               // bytes nobody asked for
  return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);  // reset and friends
}

}  // namespace turnpike::proxy::upstream
