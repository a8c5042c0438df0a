#include "proxy/header_rewrite.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "proxy/compiled_consumer.h"

namespace turnpike::proxy {
namespace {

std::string requestHead(const Fields& f, UpstreamRequestHead head) {
  std::string out = "left alone|";
  appendUpstreamRequestHead(f, head, out);
  EXPECT_TRUE(out.starts_with("left alone|")) << "appends, never clears";
  return out.substr(11);
}

std::string responseHead(const Fields& f, const ClientResponseHead& head) {
  std::string out;
  appendClientResponseHead(f, head, out);
  return out;
}

TEST(HeaderRewriteTest, RequestHeadDropsHopByHopAndWhatConnectionNames) {
  Fields f;
  f.set("Host", "client.example");
  f.set("Connection", "keep-alive, X-Secret");
  f.insert("Connection", "Upgrade");
  f.set("X-Secret", "s");
  f.set("Keep-Alive", "timeout=5");
  f.set("Proxy-Connection", "keep-alive");
  f.set("TE", "trailers");
  f.set("Trailer", "Expires");
  f.set("Transfer-Encoding", "chunked");
  f.set("Upgrade", "websocket");
  f.set("Expect", "100-continue");
  f.set("Content-Length", "10");
  f.set("x-keep", "yes");
  f.set("proxy", "http://attacker.example:3128");      // httpoxy: never forwarded
  f.set("Proxy-Authorization", "Basic Zm9vOmJhcg==");  // for a proxy: never forwarded
  f.set("Accept", "*/*");
  const std::string head =
      requestHead(f, {.method = "POST",
                      .target = "/v1/orders?x=1",
                      .host = "orders.internal:8080",
                      .forwarding = {.client_ip = "10.0.0.7", .proto = "http", .request_id = "abc"},
                      .framing = BodyFraming::kContentLength,
                      .content_length = 10});
  EXPECT_EQ(head,
            "POST /v1/orders?x=1 HTTP/1.1\r\n"
            "Host: orders.internal:8080\r\n"
            "x-keep: yes\r\n"  // names keep the case they came in
            "Accept: */*\r\n"
            "X-Forwarded-For: 10.0.0.7\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Request-Id: abc\r\n"
            "Content-Length: 10\r\n"
            "\r\n");
}

TEST(HeaderRewriteTest, RequestHeadForwardingAndConsumerFieldsAreTurnpikes) {
  Fields f;
  f.insert("X-Forwarded-For", "1.1.1.1");
  f.insert("x-forwarded-for", "2.2.2.2, 3.3.3.3");
  f.set("X-Forwarded-Proto", "https");  // a client cannot claim TLS it did not use
  f.set("X-Forwarded-Host", "evil.example");
  f.set("X-Request-Id", "from-client");
  f.set("X-Consumer-Id", "forged");  // nor pose as a consumer
  f.set("x-consumer-username", "admin");
  f.set("X-Consumer-Groups", "root");
  f.set("apikey", "tpk_secret");
  const std::string consumer = consumerFields("c-1", "alice", "staff, ops");
  const std::string head = requestHead(f, {.method = "GET",
                                           .target = "/",
                                           .host = "api.example.com",
                                           .forwarding = {.client_ip = "10.0.0.7",
                                                          .host = "api.example.com",
                                                          .proto = "http",
                                                          .request_id = "abc"},
                                           .hide_header = "ApiKey",
                                           .consumer_fields = consumer,
                                           .framing = BodyFraming::kChunked});
  EXPECT_EQ(head,
            "GET / HTTP/1.1\r\n"
            "Host: api.example.com\r\n"
            "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.7\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: api.example.com\r\n"
            "X-Request-Id: abc\r\n"
            "X-Consumer-Id: c-1\r\n"
            "X-Consumer-Username: alice\r\n"
            "X-Consumer-Groups: staff, ops\r\n"
            "Transfer-Encoding: chunked\r\n"
            "\r\n");

  // Anonymous: no consumer fields at all, even the forged ones.
  const std::string anonymous =
      requestHead(f, {.method = "GET",
                      .target = "/",
                      .host = "h",
                      .forwarding = {.client_ip = "::1", .proto = "http", .request_id = "id"}});
  EXPECT_EQ(anonymous.find("X-Consumer"), std::string::npos) << anonymous;
  EXPECT_EQ(anonymous.find("x-consumer"), std::string::npos) << anonymous;
  EXPECT_NE(anonymous.find("apikey: tpk_secret\r\n"), std::string::npos) << "not hidden";
  EXPECT_EQ(anonymous.find("X-Forwarded-Host"), std::string::npos) << anonymous;
}

TEST(HeaderRewriteTest, ResponseHeadFramingAndConnection) {
  Fields f;
  f.set("Content-Type", "text/plain");
  f.set("Content-Length", "100");
  f.set("Connection", "close, X-Hop");
  f.set("X-Hop", "1");
  f.set("Keep-Alive", "timeout=5");
  f.set("Proxy-Authenticate", "Basic realm=\"upstream\"");  // a proxy's challenge: dropped
  EXPECT_EQ(responseHead(f, {.status = 200,
                             .reason = "Fine",
                             .framing = BodyFraming::kContentLength,
                             .content_length = 100,
                             .request_id = "rid"}),
            "HTTP/1.1 200 Fine\r\n"
            "Content-Type: text/plain\r\n"
            "X-Request-Id: rid\r\n"
            "Content-Length: 100\r\n"
            "\r\n");

  // A chunked relay to a client that closes after it, and the standard phrase when the
  // upstream sent none.
  EXPECT_EQ(responseHead(f, {.status = 404,
                             .framing = BodyFraming::kChunked,
                             .keep_alive = false,
                             .request_id = "rid"}),
            "HTTP/1.1 404 Not Found\r\n"
            "Content-Type: text/plain\r\n"
            "X-Request-Id: rid\r\n"
            "Transfer-Encoding: chunked\r\n"
            "Connection: close\r\n"
            "\r\n");

  // HEAD/304: the length the GET would have had; an HTTP/1.0 client is told keep-alive.
  EXPECT_EQ(responseHead(f, {.status = 304,
                             .framing = BodyFraming::kAsReceived,
                             .http10_client = true,
                             .request_id = "rid"}),
            "HTTP/1.1 304 Not Modified\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 100\r\n"
            "X-Request-Id: rid\r\n"
            "Connection: keep-alive\r\n"
            "\r\n");
}

TEST(HeaderRewriteTest, ResponseHeadKeepsAnyThreeDigitStatusAndWhatKeepAliveDoesNotName) {
  Fields f;
  f.set("Connection", "Keep-Alive, X-Hop");  // "keep-alive" is no field to keep or drop
  f.set("X-Hop", "1");
  f.set("X-Kept", "2");
  EXPECT_EQ(responseHead(f, {.status = 599, .reason = "Odd", .request_id = "rid"}),
            "HTTP/1.1 599 Odd\r\n"
            "X-Kept: 2\r\n"
            "X-Request-Id: rid\r\n"
            "\r\n");
  EXPECT_EQ(responseHead({}, {.status = 598, .request_id = "rid"}),  // no reason, none known
            "HTTP/1.1 598 \r\n"
            "X-Request-Id: rid\r\n"
            "\r\n");
  EXPECT_EQ(responseHead({}, {.status = 1000, .reason = "Out of range", .request_id = "rid"}),
            "HTTP/1.1 1000 Out of range\r\n"
            "X-Request-Id: rid\r\n"
            "\r\n");
}

TEST(HeaderRewriteTest, ResponseHeadKeepsTheUpstreamsRequestIdAndAddsExtraFields) {
  Fields f;
  f.set("x-request-id", "upstream-id");
  const std::string_view extra = "RateLimit-Limit: 10\r\nRateLimit-Remaining: 9\r\n";
  EXPECT_EQ(responseHead(f, {.status = 204, .request_id = "ours", .extra_fields = extra}),
            "HTTP/1.1 204 No Content\r\n"
            "x-request-id: upstream-id\r\n"
            "RateLimit-Limit: 10\r\n"
            "RateLimit-Remaining: 9\r\n"
            "\r\n");
}

TEST(HeaderRewriteTest, RouteHeaderEditsApplyToTheClientsFieldsOnly) {
  Fields f;
  f.set("Cookie", "a=b");
  f.set("X-Old", "kept value");
  f.set("X-Api-Version", "1");
  f.set("Accept", "*/*");
  const policy::HeaderEdits edits =
      policy::compileHeaderEdits({{"x-api-version", "2"}}, {"cookie"}, {{"x-old", "x-new"}});
  EXPECT_EQ(requestHead(f, {.method = "GET",
                            .target = "/",
                            .host = "up",
                            .forwarding = {.client_ip = "10.0.0.1", .request_id = "rid"},
                            .edits = &edits}),
            "GET / HTTP/1.1\r\n"
            "Host: up\r\n"
            "x-new: kept value\r\n"
            "Accept: */*\r\n"
            "x-api-version: 2\r\n"
            "X-Forwarded-For: 10.0.0.1\r\n"
            "X-Request-Id: rid\r\n"
            "\r\n");

  Fields response;
  response.set("Server", "upstream/1.0");
  response.set("Cache-Control", "public");
  const policy::HeaderEdits response_edits =
      policy::compileHeaderEdits({{"cache-control", "no-store"}}, {"server"});
  EXPECT_EQ(responseHead(response, {.status = 200,
                                    .framing = BodyFraming::kContentLength,
                                    .content_length = 2,
                                    .request_id = "rid",
                                    .edits = &response_edits}),
            "HTTP/1.1 200 OK\r\n"
            "cache-control: no-store\r\n"
            "X-Request-Id: rid\r\n"
            "Content-Length: 2\r\n"
            "\r\n");
}

TEST(HeaderRewriteTest, AnUpgradeIsAskedForWithTurnpikesOwnConnectionField) {
  Fields f;
  f.set("Host", "chat.example");
  f.set("Connection", "keep-alive, Upgrade");  // kong#5714: never passed on as it came
  f.set("Upgrade", "websocket");
  f.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  f.set("Sec-WebSocket-Version", "13");
  const std::string head =
      requestHead(f, {.method = "GET",
                      .target = "/chat",
                      .host = "chat.internal",
                      .forwarding = {.client_ip = "10.0.0.7", .request_id = "abc"},
                      .upgrade = "websocket"});
  EXPECT_EQ(head,
            "GET /chat HTTP/1.1\r\n"
            "Host: chat.internal\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "X-Forwarded-For: 10.0.0.7\r\n"
            "X-Request-Id: abc\r\n"
            "Connection: Upgrade\r\n"
            "Upgrade: websocket\r\n"
            "\r\n");
}

TEST(HeaderRewriteTest, ASwitchingHeadKeepsConnectionAndUpgradeAsTheUpstreamSentThem) {
  Fields f;
  f.set("Upgrade", "WebSocket");
  f.set("Connection", "upgrade");
  f.set("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  f.set("Content-Length", "0");  // meaningless once the connection is a tunnel
  const std::string head = responseHead(f, {.status = 101,
                                            .request_id = "abc",
                                            .extra_fields = "RateLimit-Limit: 5\r\n",
                                            .upgrade = true});
  EXPECT_EQ(head,
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: WebSocket\r\n"
            "Connection: upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "X-Request-Id: abc\r\n"
            "RateLimit-Limit: 5\r\n"
            "\r\n");
}

TEST(HeaderRewriteTest, TokensOfAListAreFoundWhateverTheirCaseAndSpaces) {
  EXPECT_TRUE(hasToken("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(hasToken(" upgrade ,close", "Upgrade"));
  EXPECT_TRUE(hasToken("websocket, h2c", "h2c"));
  EXPECT_FALSE(hasToken("upgrade-insecure", "upgrade"));
  EXPECT_FALSE(hasToken("", "upgrade"));
  EXPECT_FALSE(hasToken(",,", "upgrade"));
}

TEST(HeaderRewriteTest, RequestIdsFromClientsAreChecked) {
  EXPECT_TRUE(isAcceptableRequestId("4bf92f3577b34da6a3ce929d0e0e4736"));
  EXPECT_FALSE(isAcceptableRequestId(""));
  EXPECT_FALSE(isAcceptableRequestId("has space"));
  EXPECT_FALSE(isAcceptableRequestId(std::string(201, 'a')));
}

TEST(HeaderRewriteTest, KeepsAliveFollowsTheVersionAndEveryConnectionField) {
  Fields none;
  EXPECT_TRUE(keepsAlive(none, 11));
  EXPECT_FALSE(keepsAlive(none, 10));

  Fields close;
  close.set("Connection", "X-Trace, CLOSE");
  EXPECT_FALSE(keepsAlive(close, 11));
  EXPECT_FALSE(keepsAlive(close, 10));

  Fields keep;
  keep.set("connection", " Keep-Alive ");
  EXPECT_TRUE(keepsAlive(keep, 10));
  EXPECT_TRUE(keepsAlive(keep, 11));

  // A token is whole: "closed" is not "close". And a second Connection field counts too.
  Fields second;
  second.set("Connection", "closed");
  EXPECT_TRUE(keepsAlive(second, 11));
  second.insert("Connection", "close");
  EXPECT_FALSE(keepsAlive(second, 11));
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
