#include "proxy/request_target.h"

#include <gtest/gtest.h>

#include <string>

namespace turnpike::proxy {
namespace {

struct Parsed {
  bool ok = false;
  std::string authority, path, query, reason;
};

Parsed parse(std::string_view input) {
  RequestTarget target;
  RequestTargetError error;
  Parsed out;
  out.ok = parseRequestTarget(input, target, error);
  if (out.ok) {
    out.authority = target.authority;
    out.path = target.path;
    out.query = target.query;
  } else {
    out.reason = error.reason;
  }
  return out;
}

TEST(RequestTargetTest, OriginFormSplitsPathAndQuery) {
  auto p = parse("/orders/7?expand=items&x=1");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.path, "/orders/7");
  EXPECT_EQ(p.query, "expand=items&x=1");
  EXPECT_EQ(p.authority, "");
}

TEST(RequestTargetTest, AbsoluteFormGivesTheAuthority) {
  auto p = parse("http://API.example.com:8080/v1/items?q=1");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.authority, "API.example.com:8080");
  EXPECT_EQ(p.path, "/v1/items");
  EXPECT_EQ(p.query, "q=1");

  auto bare = parse("HTTP://example.com");
  ASSERT_TRUE(bare.ok);
  EXPECT_EQ(bare.path, "/");
  EXPECT_EQ(bare.authority, "example.com");
}

TEST(RequestTargetTest, DotSegmentsAreResolvedBeforeRouting) {
  EXPECT_EQ(parse("/public/../admin").path, "/admin");
  EXPECT_EQ(parse("/a/./b/../c?x=/..").path, "/a/c");
  EXPECT_EQ(parse("/a/b/..").path, "/a/");
  EXPECT_EQ(parse("/a/.").path, "/a/");
  EXPECT_EQ(parse("/..a/b.").path, "/..a/b.");          // not dot segments
  EXPECT_EQ(parse("/a/%2e%2e/b").path, "/a/%2e%2e/b");  // encoded dots are not decoded
}

TEST(RequestTargetTest, ClimbingAboveTheRootIsRefused) {
  auto p = parse("/../etc/passwd");
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.reason.find("above the root"), std::string::npos);
  EXPECT_FALSE(parse("/a/../../b").ok);
}

TEST(RequestTargetTest, OtherFormsAndBadBytesAreRefused) {
  EXPECT_FALSE(parse("").ok);
  EXPECT_FALSE(parse("*").ok);                // asterisk-form
  EXPECT_FALSE(parse("example.com:443").ok);  // authority-form (CONNECT)
  EXPECT_FALSE(parse("ftp://example.com/").ok);
  EXPECT_FALSE(parse("http://user@example.com/").ok);
  EXPECT_FALSE(parse("/a b").ok);
  EXPECT_FALSE(parse("/a\x01").ok);
  EXPECT_FALSE(parse("/a#frag").ok);
  EXPECT_FALSE(parse("/a?q=1#frag").ok) << "a fragment after the query too";
  EXPECT_FALSE(parse("http://example.com?q#f").ok);
  EXPECT_FALSE(parse("/caf\xc3\xa9").ok);  // raw non-ASCII must be percent-encoded
}

TEST(RequestTargetTest, CopiesKeepTheNormalizedPath) {
  RequestTarget target;
  RequestTargetError error;
  ASSERT_TRUE(parseRequestTarget("/x/../y", target, error));
  RequestTarget copy = target;
  target = RequestTarget();
  EXPECT_EQ(copy.path, "/y");
}

}  // namespace
}  // namespace turnpike::proxy
