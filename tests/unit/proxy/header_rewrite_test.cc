#include "proxy/header_rewrite.h"

#include <gtest/gtest.h>

#include <boost/beast/http/fields.hpp>

namespace turnpike::proxy {
namespace {

namespace http = boost::beast::http;

TEST(HeaderRewriteTest, RemovesHopByHopAndWhatConnectionNames) {
  http::fields f;
  f.set("Connection", "keep-alive, X-Secret");
  f.insert("Connection", "Upgrade");
  f.set("X-Secret", "s");
  f.set("Keep-Alive", "timeout=5");
  f.set("Proxy-Connection", "keep-alive");
  f.set("TE", "trailers");
  f.set("Trailer", "Expires");
  f.set("Transfer-Encoding", "chunked");
  f.set("Upgrade", "websocket");
  f.set("Content-Length", "10");
  f.set("X-Keep", "yes");
  removeHopByHop(f);
  for (const char* gone : {"Connection", "X-Secret", "Keep-Alive", "Proxy-Connection", "TE",
                           "Trailer", "Transfer-Encoding", "Upgrade"}) {
    EXPECT_EQ(f.count(gone), 0U) << gone;
  }
  EXPECT_EQ(f["Content-Length"], "10");
  EXPECT_EQ(f["X-Keep"], "yes");
}

TEST(HeaderRewriteTest, ForwardingHeadersAppendTheClientAndSetTheRest) {
  http::fields f;
  f.insert("X-Forwarded-For", "1.1.1.1");
  f.insert("x-forwarded-for", "2.2.2.2, 3.3.3.3");
  f.set("X-Forwarded-Proto", "https");  // a client cannot claim TLS it did not use
  setForwardingHeaders(
      f,
      {.client_ip = "10.0.0.7", .host = "api.example.com", .proto = "http", .request_id = "abc"});
  EXPECT_EQ(f.count("X-Forwarded-For"), 1U);
  EXPECT_EQ(f["X-Forwarded-For"], "1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.7");
  EXPECT_EQ(f["X-Forwarded-Proto"], "http");
  EXPECT_EQ(f["X-Forwarded-Host"], "api.example.com");
  EXPECT_EQ(f["X-Request-Id"], "abc");

  http::fields fresh;
  setForwardingHeaders(fresh,
                       {.client_ip = "::1", .host = "", .proto = "http", .request_id = "id"});
  EXPECT_EQ(fresh["X-Forwarded-For"], "::1");
  EXPECT_EQ(fresh.count("X-Forwarded-Host"), 0U);
}

TEST(HeaderRewriteTest, RequestIdsFromClientsAreChecked) {
  EXPECT_TRUE(isAcceptableRequestId("4bf92f3577b34da6a3ce929d0e0e4736"));
  EXPECT_FALSE(isAcceptableRequestId(""));
  EXPECT_FALSE(isAcceptableRequestId("has space"));
  EXPECT_FALSE(isAcceptableRequestId(std::string(201, 'a')));
}

TEST(HeaderRewriteTest, IdempotentMethods) {
  for (const char* m : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"}) {
    EXPECT_TRUE(isIdempotentMethod(m)) << m;
  }
  for (const char* m : {"POST", "PATCH", "CONNECT", "get"}) {
    EXPECT_FALSE(isIdempotentMethod(m)) << m;
  }
}

}  // namespace
}  // namespace turnpike::proxy
