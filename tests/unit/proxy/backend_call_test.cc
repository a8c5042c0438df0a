#include "proxy/backend_call.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace turnpike::proxy {
namespace {

std::string filled(std::string_view path, const std::vector<PathParam>& params) {
  std::string out = "left over";
  fillBackendTarget(path, params, out);
  return out;
}

TEST(FillBackendTargetTest, PathParametersGoInAsReceived) {
  EXPECT_EQ(filled("/users/{id}/orders/{order}", {{"id", "42"}, {"order", "a%20b"}}),
            "/users/42/orders/a%20b");
  EXPECT_EQ(filled("/plain?x=1", {{"id", "42"}}), "/plain?x=1");
  EXPECT_EQ(filled("/users/{missing}", {{"id", "42"}}), "/users/");
}

TEST(FillBackendTargetTest, QueryParametersAreEncodedSoTheyCannotChangeTheQuery) {
  EXPECT_EQ(filled("/orders?user={id}&page=1", {{"id", "42"}}), "/orders?user=42&page=1");
  // A value with the query's own delimiters stays one value.
  EXPECT_EQ(filled("/orders?user={id}", {{"id", "a&admin=1"}}), "/orders?user=a%26admin%3D1");
  EXPECT_EQ(filled("/orders?user={id}", {{"id", "x+y#z"}}), "/orders?user=x%2By%23z");
  // What the client percent-encoded in its path is decoded first, not encoded twice; a '%'
  // that starts no escape is a '%'.
  EXPECT_EQ(filled("/orders?user={id}", {{"id", "a%20b"}}), "/orders?user=a%20b");
  EXPECT_EQ(filled("/orders?user={id}", {{"id", "100%"}}), "/orders?user=100%25");
  EXPECT_EQ(filled("/orders?user={id}", {{"id", "%zz"}}), "/orders?user=%25zz");
  EXPECT_EQ(filled("/orders?user={id}", {{"id", "%c3%A9"}}), "/orders?user=%C3%A9");
  // The same parameter in the path (raw) and in the query (encoded), and inside a value.
  EXPECT_EQ(filled("/u/{id}/o?of={id}&tag=v-{id}", {{"id", "a=b"}}),
            "/u/a=b/o?of=a%3Db&tag=v-a%3Db");
}

}  // namespace
}  // namespace turnpike::proxy
