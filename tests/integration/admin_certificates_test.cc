// /certificates through the real binary (API.md "Resources added in the second phase"): CRUD
// whose answers never carry the key, errors that name the field, keys that reach the database
// file (and its WAL) only sealed, a keyring that must fit the database at start-up, expiry in
// /status and /metrics, and GET /config -> PUT /config changing nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/admin_fixture.h"
#include "tests/support/test_certificates.h"
#include "tests/support/turnpike_process.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

// {"name", "cert", "key", "snis"} for `pair`.
json certificateBody(const std::string& name, const TestCertificate& pair,
                     std::vector<std::string> snis) {
  return {{"name", name}, {"cert", pair.cert_pem}, {"key", pair.key_pem}, {"snis", snis}};
}

// A certificate for `host` (its only SNI), valid for `days` more days.
TestCertificate certificateFor(const std::string& host, int64_t days = 90) {
  return makeCertificate({.common_name = host, .dns_names = {host}, .valid_until_s = days * 86400});
}

// The base64 lines of a PEM block (between BEGIN and END), each, and joined.
std::vector<std::string> pemBodyLines(const std::string& pem) {
  std::vector<std::string> lines;
  std::istringstream in(pem);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && !line.starts_with("-----")) lines.push_back(line);
  }
  return lines;
}

// The answer holds neither form of a certificate's key.
::testing::AssertionResult carriesNoKey(const Response& r) {
  for (const char* needle : {"\"key\"", "key_encrypted", "PRIVATE KEY"}) {
    if (r.body.find(needle) != std::string::npos) {
      return ::testing::AssertionFailure() << "the answer holds " << needle << ":\n" << r;
    }
  }
  return ::testing::AssertionSuccess();
}

class AdminCertificatesTest : public AdminSuiteTest {};

TEST_F(AdminCertificatesTest, CrudAnswersNeverCarryTheKey) {
  const std::string name = uniqueName("crt");
  const std::string host = name + ".example.com";
  const TestCertificate pair = certificateFor(host);

  Response created = admin().post("/certificates", certificateBody(name, pair, {host}));
  ASSERT_EQ(created.status, 201) << created;
  EXPECT_TRUE(carriesNoKey(created));
  EXPECT_TRUE(created.hasHeader("ETag")) << created;
  EXPECT_TRUE(created.hasHeader("X-Config-Version")) << created;
  const json entity = created.json();
  const std::string id = entity["id"];
  EXPECT_EQ(created.headerOr("Location"), "/certificates/" + id);
  EXPECT_EQ(entity["subject"], "CN=" + host);
  EXPECT_EQ(entity["key_type"], "EC P-256");
  EXPECT_EQ(entity["fingerprint_sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(entity["snis"], json::array({host}));

  Response by_name = admin().get("/certificates/" + name);
  ASSERT_EQ(by_name.status, 200) << by_name;
  EXPECT_TRUE(carriesNoKey(by_name));
  EXPECT_EQ(by_name.json()["id"], id);
  Response list = admin().get("/certificates");
  ASSERT_EQ(list.status, 200) << list;
  EXPECT_TRUE(carriesNoKey(list));
  EXPECT_THAT(list.body, HasSubstr(id));

  // PATCH and PUT without a key keep the stored one.
  Response patched = admin().patch("/certificates/" + name, {{"tags", {"edge"}}});
  ASSERT_EQ(patched.status, 200) << patched;
  EXPECT_TRUE(carriesNoKey(patched));
  EXPECT_EQ(patched.json()["tags"], json::array({"edge"}));
  json without_key = certificateBody(name, pair, {host});
  without_key.erase("key");
  Response put = admin().put("/certificates/" + id, without_key);
  ASSERT_EQ(put.status, 200) << put;
  EXPECT_TRUE(carriesNoKey(put));

  // A new cert without its key: the kept key does not fit it.
  const TestCertificate other = certificateFor(host);
  json new_cert = without_key;
  new_cert["cert"] = other.cert_pem;
  Response mismatch = admin().put("/certificates/" + id, new_cert);
  EXPECT_TRUE(isProblem(mismatch, 400)) << mismatch;
  EXPECT_TRUE(namesField(mismatch, "key")) << mismatch;
  new_cert["key"] = other.key_pem;
  Response replaced = admin().put("/certificates/" + id, new_cert);
  ASSERT_EQ(replaced.status, 200) << replaced;
  EXPECT_NE(replaced.json()["fingerprint_sha256"], entity["fingerprint_sha256"]);

  Response deleted = admin().del("/certificates/" + name);
  EXPECT_EQ(deleted.status, 204) << deleted;
  EXPECT_TRUE(isProblem(admin().get("/certificates/" + id), 404));
}

TEST_F(AdminCertificatesTest, ErrorsNameTheField) {
  const std::string name = uniqueName("crt");
  const std::string host = name + ".example.com";
  const TestCertificate pair = certificateFor(host);
  const int64_t v0 = storedVersion();

  json bad_pem = certificateBody(name, pair, {host});
  bad_pem["cert"] = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  Response r = admin().post("/certificates", bad_pem);
  EXPECT_TRUE(isProblem(r, 400)) << r;
  EXPECT_TRUE(namesField(r, "cert")) << r;

  json mismatched = certificateBody(name, pair, {host});
  mismatched["key"] = certificateFor(host).key_pem;
  r = admin().post("/certificates", mismatched);
  EXPECT_TRUE(isProblem(r, 400)) << r;
  EXPECT_TRUE(namesField(r, "key")) << r;
  EXPECT_THAT(r.body, HasSubstr("not the private key"));
  EXPECT_THAT(r.body, Not(HasSubstr("PRIVATE KEY-----")));

  const TestCertificate weak = makeCertificate(
      {.common_name = host, .dns_names = {host}, .key_type = TestKeyType::kRsa1024});
  r = admin().post("/certificates", certificateBody(name, weak, {host}));
  EXPECT_TRUE(isProblem(r, 400)) << r;
  EXPECT_TRUE(namesField(r, "key")) << r;
  EXPECT_THAT(r.body, HasSubstr("2048"));

  json keyless = certificateBody(name, pair, {host});
  keyless.erase("key");
  r = admin().post("/certificates", keyless);
  EXPECT_TRUE(isProblem(r, 400)) << r;
  EXPECT_TRUE(namesField(r, "key")) << r;

  json both = certificateBody(name, pair, {host});
  both["key_encrypted"] = "v1:0123456789abcdef:AAAA";
  r = admin().post("/certificates", both);
  EXPECT_TRUE(isProblem(r, 400)) << r;
  EXPECT_TRUE(namesField(r, "key_encrypted")) << r;

  json bad_sni = certificateBody(name, pair, {"*.*.example.com"});
  r = admin().post("/certificates", bad_sni);
  EXPECT_TRUE(isProblem(r, 400)) << r;
  EXPECT_TRUE(namesField(r, "snis[0]")) << r;
  EXPECT_EQ(storedVersion(), v0) << "a refused write changes nothing";

  ASSERT_FALSE(mustCreate("/certificates", certificateBody(name, pair, {host})).is_null());
  const std::string second = uniqueName("crt");
  r = admin().post("/certificates", certificateBody(second, pair, {second + ".example.com", host}));
  EXPECT_TRUE(isProblem(r, 409)) << r;
  EXPECT_TRUE(namesField(r, "snis[1]")) << r;
}

TEST_F(AdminCertificatesTest, StatusWarnsOfExpiryAndMetricsShowIt) {
  const std::string soon = uniqueName("soon");
  const std::string later = uniqueName("later");
  const TestCertificate soon_pair = certificateFor(soon + ".example.com", 10);
  const TestCertificate later_pair = certificateFor(later + ".example.com", 90);
  json soon_entity =
      mustCreate("/certificates", certificateBody(soon, soon_pair, {soon + ".example.com"}));
  ASSERT_FALSE(soon_entity.is_null());
  ASSERT_FALSE(
      mustCreate("/certificates", certificateBody(later, later_pair, {later + ".example.com"}))
          .is_null());

  json status = mustGet("/status");
  ASSERT_TRUE(status["certificates"].is_array()) << status;
  EXPECT_GE(status["counts"]["certificates"].get<int64_t>(), 2);
  bool listed = false;
  for (const json& c : status["certificates"]) {
    if (c["name"] != soon) continue;
    listed = true;
    EXPECT_EQ(c["id"], soon_entity["id"]);
    EXPECT_EQ(c["snis"], json::array({soon + ".example.com"}));
    EXPECT_EQ(c["not_after"], soon_entity["not_after"]);
    EXPECT_NEAR(c["expires_in_s"].get<double>(), 10 * 86400.0, 120);
  }
  EXPECT_TRUE(listed) << status;
  const std::string warnings = status["warnings"].dump();
  EXPECT_THAT(warnings, ::testing::ContainsRegex("'" + soon + "' expires in (9|10) days"))
      << status;
  EXPECT_THAT(warnings, Not(HasSubstr(later))) << status;

  Response metrics = admin().get("/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics;
  EXPECT_THAT(metrics.body, HasSubstr("# TYPE turnpike_certificate_expiry_seconds gauge\n"));
  EXPECT_THAT(metrics.body, HasSubstr("# HELP turnpike_certificate_expiry_seconds "));
  EXPECT_THAT(metrics.body,
              HasSubstr("turnpike_certificate_expiry_seconds{certificate=\"" + soon + "\"} " +
                        std::to_string(soon_entity["not_after"].get<int64_t>()) + "\n"));
  EXPECT_THAT(metrics.body, HasSubstr("turnpike_entities{kind=\"certificate\"} "));
}

TEST_F(AdminCertificatesTest, ExportedConfigImportsBackWithoutANewVersion) {
  const std::string name = uniqueName("crt");
  const TestCertificate pair = certificateFor(name + ".example.com");
  ASSERT_FALSE(
      mustCreate("/certificates", certificateBody(name, pair, {name + ".example.com"})).is_null());

  Response exported = admin().get("/config");
  ASSERT_EQ(exported.status, 200) << exported;
  EXPECT_THAT(exported.body, Not(HasSubstr("PRIVATE KEY")));
  const json config = exported.json();
  bool found = false;
  for (const json& c : config["certificates"]) {
    if (c["name"] != name) continue;
    found = true;
    EXPECT_FALSE(c.contains("key"));
    EXPECT_TRUE(c["key_encrypted"].get<std::string>().starts_with("v1:")) << c;
  }
  ASSERT_TRUE(found) << config;

  const int64_t version = storedVersion();
  Response imported = admin().put("/config", config);
  ASSERT_EQ(imported.status, 200) << imported;
  EXPECT_EQ(imported.json()["changes"], json::array()) << imported;
  EXPECT_TRUE(hasConfigVersion(imported, version)) << imported;
  EXPECT_EQ(storedVersion(), version);
}

// The keyring file a process under test uses by default: beside its database.
std::string defaultKeyringOf(const TurnpikeProcess& tp) { return tp.dbPath() + ".keyring"; }

TEST(AdminCertificateKeysTest, KeysReachTheDatabaseFilesOnlySealed) {
  TurnpikeProcess tp;
  ASSERT_TRUE(tp.start());
  struct stat info {};
  ASSERT_EQ(::stat(defaultKeyringOf(tp).c_str(), &info), 0) << "no keyring beside the database";
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_THAT(tp.stderrText(), HasSubstr(defaultKeyringOf(tp)));

  HttpClient admin = tp.adminClient();
  const TestCertificate pair = certificateFor("secret.example.com");
  Response created =
      admin.post("/certificates", certificateBody("secret", pair, {"secret.example.com"}));
  ASSERT_EQ(created.status, 201) << created;
  ASSERT_EQ(admin.patch("/certificates/secret", {{"tags", {"x"}}}).status, 200);

  const std::string files = readFile(tp.dbPath()) + readFile(tp.dbPath() + "-wal");
  ASSERT_FALSE(files.empty());
  EXPECT_EQ(files.find("PRIVATE KEY"), std::string::npos);
  const std::vector<std::string> lines = pemBodyLines(pair.key_pem);
  ASSERT_FALSE(lines.empty());
  std::string joined;
  for (const std::string& line : lines) {
    joined += line;
    EXPECT_EQ(files.find(line), std::string::npos) << "a line of the key: " << line;
  }
  EXPECT_EQ(files.find(joined), std::string::npos);
  // What is there is the sealed form.
  EXPECT_NE(files.find("\"key_encrypted\":\"v1:"), std::string::npos);
  EXPECT_THAT(tp.stderrText(), Not(HasSubstr(joined)));
}

TEST(AdminCertificateKeysTest, RefusesToStartWithAKeyringThatDoesNotFit) {
  TurnpikeProcess tp;
  ASSERT_TRUE(tp.start());
  HttpClient admin = tp.adminClient();
  Response created = admin.post(
      "/certificates",
      certificateBody("sealed-here", certificateFor("a.example.com"), {"a.example.com"}));
  ASSERT_EQ(created.status, 201) << created;
  tp.stop();
  ASSERT_TRUE(tp.exitedCleanly());

  const std::vector<std::string> serve = {"serve",          "--db",          tp.dbPath(),
                                          "--admin-listen", "127.0.0.1:0",   "--proxy-listen",
                                          "127.0.0.1:0",    "--keyring-file"};
  const std::string other = tp.dir() + "/other.keyring";
  std::vector<std::string> args = serve;
  args.push_back(other);
  CommandResult refused = runTurnpike(args, {}, std::chrono::seconds(10));
  EXPECT_GT(refused.exit_code, 0) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr(other));
  EXPECT_THAT(refused.err, HasSubstr("'sealed-here'"));
  EXPECT_THAT(refused.err, Not(HasSubstr("serving")));

  ASSERT_TRUE(writeFile(tp.dir() + "/broken.keyring", "not a key\n"));
  args = serve;
  args.push_back(tp.dir() + "/broken.keyring");
  CommandResult broken = runTurnpike(args, {}, std::chrono::seconds(10));
  EXPECT_GT(broken.exit_code, 0) << broken.err;
  EXPECT_THAT(broken.err, HasSubstr(tp.dir() + "/broken.keyring"));

  // The right keyring (the default one, beside the database) still starts it.
  ASSERT_TRUE(tp.restart());
  EXPECT_EQ(tp.adminClient().get("/certificates/sealed-here").status, 200);
}

// `turnpike config export` then `config import` on a stopped server's database: the sealed keys
// go out and come back under the keyring beside the database, and nothing changes; under
// another keyring (--keyring-file) the import is refused naming the entry's key_encrypted.
TEST(AdminCertificateKeysTest, CliExportAndImportKeepTheSealedKeys) {
  TurnpikeProcess tp;
  ASSERT_TRUE(tp.start());
  HttpClient admin = tp.adminClient();
  Response created =
      admin.post("/certificates",
                 certificateBody("cli", certificateFor("cli.example.com"), {"cli.example.com"}));
  ASSERT_EQ(created.status, 201) << created;
  tp.stop();

  CommandResult exported = runTurnpike({"config", "export", "--db", tp.dbPath()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_THAT(exported.out, HasSubstr("\"key_encrypted\""));
  EXPECT_THAT(exported.out, Not(HasSubstr("PRIVATE KEY")));
  const std::string file = tp.dir() + "/exported.json";
  ASSERT_TRUE(writeFile(file, exported.out));

  CommandResult imported = runTurnpike({"config", "import", file, "--db", tp.dbPath()});
  EXPECT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_THAT(imported.out, HasSubstr("imported: 0 change(s)"));

  const std::string other = tp.dir() + "/other.keyring";
  CommandResult refused =
      runTurnpike({"config", "import", file, "--db", tp.dbPath(), "--keyring-file", other});
  EXPECT_GT(refused.exit_code, 0) << refused.out;
  EXPECT_THAT(refused.err, HasSubstr("certificates[0].key_encrypted"));
  EXPECT_THAT(refused.err, HasSubstr("sealed under keyring"));

  ASSERT_TRUE(tp.restart());
  EXPECT_EQ(tp.adminClient().get("/certificates/cli").status, 200);
}

}  // namespace
}  // namespace turnpike::test_support
