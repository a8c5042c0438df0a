// Secrets never reach the logs (SECURITY.md): the admin token and API keys — right or wrong, in
// a header or in the query string — through the admin API and the proxy, with the access log
// on (standard output, the default) and the application log at debug.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/test_upstream.h"
#include "tests/support/turnpike_process.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using test::TestUpstream;

TEST(SecurityLogsTest, TokensAndKeysNeverReachTheLogs) {
  TestUpstream upstream("orders");
  upstream.start();
  TurnpikeProcess tp({.extra_args = {"--workers", "1", "--log-level", "debug"}});
  ASSERT_TRUE(tp.start());
  HttpClient admin = tp.adminClient();
  ASSERT_EQ(admin.post("/services", {{"name", "orders"}, {"targets", {{{"url", upstream.url()}}}}})
                .status,
            201);
  ASSERT_EQ(admin
                .post("/routes?wait_for_proxy=true", {{"name", "keyed"},
                                                      {"service", "orders"},
                                                      {"paths", {"/keyed"}},
                                                      {"auth", {{"type", "api_key"}}}})
                .status,
            201);
  ASSERT_EQ(admin.post("/consumers", {{"username", "alice"}}).status, 201);
  Response issued = admin.post("/consumers/alice/keys?wait_for_proxy=true", json::object());
  ASSERT_EQ(issued.status, 201) << issued.body;
  const std::string key = json::parse(issued.body).value("key", "");
  ASSERT_EQ(key.rfind("tpk_", 0), 0U) << issued.body;

  const std::string wrong_key = "tpk_" + randomToken();
  const std::string wrong_token = randomToken();
  HttpClient proxy("127.0.0.1", tp.proxyPort());
  EXPECT_EQ(proxy.get("/keyed/a", {{"apikey", key}}).status, 200);
  EXPECT_EQ(proxy.get("/keyed/b?apikey=" + key).status, 200);
  EXPECT_EQ(proxy.get("/keyed/c", {{"apikey", wrong_key}}).status, 401);
  EXPECT_EQ(proxy.get("/keyed/d?apikey=" + wrong_key).status, 401);
  HttpClient intruder = tp.anonymousClient();
  EXPECT_EQ(intruder.get("/services", {{"Authorization", "Bearer " + wrong_token}}).status, 401);
  EXPECT_EQ(admin.get("/consumers/alice/keys").status, 200);
  tp.stop();

  const std::string logs = tp.stdoutText() + tp.stderrText();
  // The logs did record these requests (so the scan below looks at something) ...
  for (const char* seen : {"/keyed/a", "/keyed/b", "/keyed/d", "/consumers/alice/keys"}) {
    EXPECT_NE(logs.find(seen), std::string::npos) << seen << " is not in the logs:\n" << logs;
  }
  // ... without a secret, whole or as its random part.
  const std::vector<std::string> secrets = {tp.token(), key,         key.substr(4),
                                            wrong_key,  wrong_token, wrong_key.substr(4)};
  for (const std::string& secret : secrets) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << "a secret is in the logs: " << secret;
  }
}

}  // namespace
}  // namespace turnpike::test_support
