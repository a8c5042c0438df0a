#include "proxy/http_fields.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace turnpike::proxy {
namespace {

namespace http = boost::beast::http;

// Feeds `wire` to `parser` in one piece; the error (none when the header and any body are done).
template <bool isRequest>
boost::system::error_code parse(HttpParser<isRequest>& parser, std::string_view wire) {
  boost::system::error_code ec;
  parser.eager(true);
  parser.put(boost::asio::buffer(wire.data(), wire.size()), ec);
  return ec;
}

std::vector<std::string> lines(const Fields& fields) {
  std::vector<std::string> out;
  for (const auto& field : fields) out.emplace_back(field.line());
  return out;
}

TEST(HttpFieldsTest, ARequestKeepsItsStartLineAndFieldsAsReceived) {
  HttpParser<true> parser;
  ASSERT_FALSE(parse(parser,
                     "PATCH /orders/7?x=1 HTTP/1.0\r\nHost: a.example\r\nx-Custom:  spaced \r\n"
                     "Accept: a\r\nACCEPT: b\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(parser.is_done());
  const ParsedMessage<true>& request = parser.get();
  EXPECT_EQ(request.method(), http::verb::patch);
  EXPECT_EQ(request.method_string(), "PATCH");
  EXPECT_EQ(request.target(), "/orders/7?x=1");
  EXPECT_EQ(request.version(), 10u);
  // In order, names in their case, values trimmed by the parser, repeated fields kept apart.
  EXPECT_EQ(lines(request.fields()),
            (std::vector<std::string>{"Host: a.example\r\n", "x-Custom: spaced\r\n",
                                      "Accept: a\r\n", "ACCEPT: b\r\n", "Content-Length: 0\r\n"}));
  const Fields::Field custom = request.fields().at(1);
  EXPECT_EQ(custom.name(), http::field::unknown);
  EXPECT_EQ(custom.name_string(), "x-Custom");
  EXPECT_EQ(custom.value(), "spaced");
  EXPECT_EQ(request.fields().at(2).name(), http::field::accept);
  EXPECT_EQ(request["X-CUSTOM"], "spaced");
  EXPECT_EQ(request[http::field::accept], "a");  // the first of several
  EXPECT_EQ(request.fields().count(http::field::accept), 2u);
  EXPECT_EQ(request.fields().count("accept"), 2u);
  EXPECT_EQ(request["Missing"], "");
}

TEST(HttpFieldsTest, AnUnknownMethodIsKeptAsItsText) {
  HttpParser<true> parser;
  ASSERT_FALSE(parse(parser, "BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(parser.get().method(), http::verb::unknown);
  EXPECT_EQ(parser.get().method_string(), "BREW");
  EXPECT_EQ(parser.get().target(), "/pot");
}

TEST(HttpFieldsTest, AResponseKeepsStatusReasonAndAnEmptyValue) {
  HttpParser<false> parser;
  ASSERT_FALSE(parse(parser, "HTTP/1.1 418 I'm a teapot\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n"));
  const ParsedMessage<false>& response = parser.get();
  EXPECT_EQ(response.result_int(), 418u);
  EXPECT_EQ(response.reason(), "I'm a teapot");
  EXPECT_EQ(response.version(), 11u);
  EXPECT_EQ(response.fields().at(0).value(), "");
  EXPECT_EQ(response.fields().at(0).line(), "X-Empty: \r\n");
  EXPECT_EQ(response.fields().size(), 2u);
}

TEST(HttpFieldsTest, BeastStillRefusesWhatItRefused) {
  {
    HttpParser<true> parser;
    EXPECT_EQ(parse(parser, "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), http::error::bad_field);
  }
  {
    HttpParser<true> parser;
    parser.header_limit(64);
    EXPECT_EQ(parse(parser, "GET / HTTP/1.1\r\nX-Long: " + std::string(100, 'v') + "\r\n\r\n"),
              http::error::header_limit);
  }
  {
    HttpParser<false> parser;
    EXPECT_EQ(parse(parser, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
              http::error::multiple_content_length);
  }
}

TEST(HttpFieldsTest, TheBodyGoesToTheGivenPieceAndStopsWhenItIsFull) {
  HttpParser<false> parser;
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  boost::system::error_code ec;
  std::size_t used = parser.put(boost::asio::buffer(wire), ec);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(parser.is_header_done());
  EXPECT_TRUE(parser.chunked());

  char piece[8];
  parser.get().body() = {.data = piece, .size = sizeof piece, .more = true};
  std::string received;
  while (!parser.is_done()) {
    used += parser.put(boost::asio::buffer(wire.data() + used, wire.size() - used), ec);
    const std::size_t got = sizeof piece - parser.get().body().size;
    received.append(piece, got);
    parser.get().body() = {.data = piece, .size = sizeof piece, .more = true};
    if (ec == http::error::need_buffer) ec = {};  // the piece was full: empty it and go on
    ASSERT_FALSE(ec) << ec.message();
  }
  EXPECT_EQ(received, "hello world");

  HttpParser<false> no_piece;  // a body without a piece to go to waits for one
  ASSERT_FALSE(parse(no_piece, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"));
  no_piece.put(boost::asio::buffer(std::string_view("abc")), ec);
  EXPECT_EQ(ec, http::error::need_buffer);
}

TEST(HttpFieldsTest, ARecycledParserReadsTheNextMessageAlone) {
  std::optional<HttpParser<true>> slot;
  std::string many = "GET /first HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 50; ++i) {
    many += "X-Field-" + std::to_string(i) + ": value " + std::to_string(i) + "\r\n";
  }
  many += "X-Long: " + std::string(3000, 'v') + "\r\n\r\n";
  ASSERT_FALSE(parse(recycleParser(slot), many));
  EXPECT_EQ(slot->get().fields().size(), 52u);
  EXPECT_EQ(slot->get()["x-field-49"], "value 49");

  for (int round = 0; round < 3; ++round) {
    HttpParser<true>& parser = recycleParser(slot);
    EXPECT_EQ(parser.get().fields().size(), 0u);
    EXPECT_EQ(parser.get().target(), "");
    ASSERT_FALSE(parse(parser, "POST /next HTTP/1.1\r\nHost: other\r\n\r\n"));
    EXPECT_EQ(parser.get().method(), http::verb::post);
    EXPECT_EQ(parser.get().target(), "/next");
    EXPECT_EQ(lines(parser.get().fields()), std::vector<std::string>{"Host: other\r\n"});
  }
}

TEST(HttpFieldsTest, FieldsBuiltByHandCanBeSetAndErased) {
  Fields fields;
  fields.insert("content-type", "text/plain");
  fields.insert(http::field::vary, "Accept");
  fields.insert("X-Twice", "1");
  fields.insert("x-twice", "2");
  EXPECT_EQ(fields.at(0).name(), http::field::content_type);  // the enum is looked up
  EXPECT_EQ(fields.at(1).line(), "Vary: Accept\r\n");
  fields.set("X-TWICE", "3");
  EXPECT_EQ(lines(fields), (std::vector<std::string>{"content-type: text/plain\r\n",
                                                     "Vary: Accept\r\n", "X-TWICE: 3\r\n"}));
  fields.set(http::field::content_type, "application/json");
  EXPECT_EQ(fields[http::field::content_type], "application/json");
  EXPECT_EQ(fields.count(http::field::content_type), 1u);
  EXPECT_EQ(fields.erase("vary"), 1u);
  EXPECT_EQ(fields.erase("vary"), 0u);
  EXPECT_EQ(fields.size(), 2u);
  fields.clear();
  EXPECT_TRUE(fields.empty());
  EXPECT_EQ(fields.begin(), fields.end());
}

TEST(HttpFieldsTest, CopiesAreIndependentAndAMovedFromFieldsIsEmptyAndUsable) {
  Fields a;
  a.insert("X-A", "1");
  Fields copy;
  copy.insert("X-Old", "gone");
  copy = a;
  a.set("X-A", "changed");
  EXPECT_EQ(lines(copy), std::vector<std::string>{"X-A: 1\r\n"});

  Fields moved = std::move(a);
  EXPECT_EQ(moved["x-a"], "changed");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): what is left is specified
  a.insert("X-B", "2");
  EXPECT_EQ(lines(a), std::vector<std::string>{"X-B: 2\r\n"});
  EXPECT_EQ(lines(moved), std::vector<std::string>{"X-A: changed\r\n"});
}

}  // namespace
}  // namespace turnpike::proxy
