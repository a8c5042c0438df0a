// Helpers for the proxy tests that drive real loopback sockets.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <string>

namespace turnpike::proxy::testing {

// Two ends of one loopback TCP connection.
struct SocketPair {
  boost::asio::ip::tcp::socket near;  // the end the code under test uses
  boost::asio::ip::tcp::socket far;   // the test's end
};

inline SocketPair connectedPair(boost::asio::io_context& io) {
  using tcp = boost::asio::ip::tcp;
  tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  SocketPair pair{tcp::socket(io), tcp::socket(io)};
  pair.far.connect(acceptor.local_endpoint());
  acceptor.accept(pair.near);
  return pair;
}

// Bytes that show reordering or loss: position i holds (i * 7) % 251.
inline std::string bytePattern(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 7) % 251);
  return out;
}

}  // namespace turnpike::proxy::testing
