// Certificates in the store: keys sealed by the keyring before anything is stored, kept across
// writes that leave them out, checked against the certificate, SNIs and the default claimed
// once, and history, restore, export and import carrying the sealed form.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "model/certificate.h"
#include "model/config.h"
#include "storage/config_store.h"
#include "storage/keyring.h"
#include "tests/support/test_certificates.h"
#include "tests/unit/storage/storage_test_util.h"

namespace turnpike::storage {
namespace {

using model::Certificate;
using model::ErrorCode;
using nlohmann::json;
using test_support::makeCertificate;
using test_support::TestCertificate;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class CertificateStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    api_ = new TestCertificate(
        makeCertificate({.common_name = "api.example.com", .dns_names = {"api.example.com"}}));
    www_ = new TestCertificate(
        makeCertificate({.common_name = "www.example.com", .dns_names = {"www.example.com"}}));
  }
  static void TearDownTestSuite() {
    delete api_;
    delete www_;
  }

  void SetUp() override {
    auto keyring = Keyring::loadOrCreate(dir_.file("turnpike.db.keyring"));
    ASSERT_TRUE(keyring.ok()) << keyring.error().message;
    keyring_ = std::make_shared<const Keyring>(*keyring);
    auto store = ConfigStore::open(dir_.file("turnpike.db"), nullptr, keyring_);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
  }

  static Certificate parsed(const json& body) {
    auto r = model::parseCertificate(body, /*key_required=*/false);
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    return r ? *r : Certificate{};
  }
  static Certificate certificate(const std::string& name, const TestCertificate& pair,
                                 std::vector<std::string> snis, bool with_key = true) {
    json body = {{"name", name}, {"cert", pair.cert_pem}, {"snis", snis}};
    if (with_key) body["key"] = pair.key_pem;
    return parsed(body);
  }

  // Every doc and history entry the database holds, as one text.
  std::string storedText() {
    SQLite::Database db(dir_.file("turnpike.db"), SQLite::OPEN_READONLY);
    std::string text;
    SQLite::Statement docs(db, "SELECT doc FROM certificates");
    while (docs.executeStep()) text += docs.getColumn(0).getString();
    SQLite::Statement history(
        db, "SELECT coalesce(before, '') || coalesce(after, '') FROM history_changes");
    while (history.executeStep()) text += history.getColumn(0).getString();
    return text;
  }

  std::string unsealed(const Certificate& c) {
    auto plain = keyring_->unseal(c.key_encrypted, c.id);
    EXPECT_TRUE(plain.ok()) << (plain ? "" : plain.error().message);
    return plain ? *plain : "";
  }

  int64_t storeVersion() {
    auto v = store_->version();
    return v ? *v : -1;
  }

  static TestCertificate* api_;
  static TestCertificate* www_;
  testing::TempDir dir_;
  std::shared_ptr<const Keyring> keyring_;
  std::unique_ptr<ConfigStore> store_;
};
TestCertificate* CertificateStoreTest::api_ = nullptr;
TestCertificate* CertificateStoreTest::www_ = nullptr;

TEST_F(CertificateStoreTest, CreateSealsTheKeyAndStoresNoPem) {
  auto written = store_->create(certificate("api", *api_, {"api.example.com"}), {});
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_TRUE(written->entity.key_pem.empty());
  EXPECT_THAT(written->entity.key_encrypted, StartsWith("v1:" + keyring_->id() + ":"));
  EXPECT_EQ(unsealed(written->entity), api_->key_pem);

  auto read = store_->get<Certificate>("api");
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(read->key_encrypted, written->entity.key_encrypted);
  EXPECT_TRUE(read->key_pem.empty());
  EXPECT_FALSE(model::toJson(*read).contains("key_encrypted"));

  const std::string text = storedText();
  EXPECT_THAT(text, HasSubstr("\"key_encrypted\":\"v1:"));
  EXPECT_EQ(text.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(text.find(api_->key_pem.substr(40, 40)), std::string::npos);
}

TEST_F(CertificateStoreTest, AKeyIsRequiredAndNeedsAKeyring) {
  auto missing = store_->create(certificate("api", *api_, {"api.example.com"}, false), {});
  EXPECT_TRUE(testing::namesStoreField(missing, ErrorCode::kInvalid, "key", "is required"));

  auto bare = ConfigStore::open(dir_.file("bare.db"), nullptr);
  ASSERT_TRUE(bare.ok());
  auto no_keyring = (*bare)->create(certificate("api", *api_, {"api.example.com"}), {});
  EXPECT_TRUE(testing::namesStoreField(no_keyring, ErrorCode::kInvalid, "key", "no keyring"));
  EXPECT_EQ(*(*bare)->version(), 0);
}

TEST_F(CertificateStoreTest, PutWithoutAKeyKeepsItAndTheSameKeyChangesNothing) {
  auto first = store_->create(certificate("api", *api_, {"api.example.com"}), {});
  ASSERT_TRUE(first.ok()) << first.error().message;
  const std::string sealed = first->entity.key_encrypted;

  Certificate retagged = certificate("api", *api_, {"api.example.com"}, false);
  retagged.tags = {"edge"};
  auto put = store_->put<Certificate>("api", retagged, {});
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_EQ(put->entity.key_encrypted, sealed);
  EXPECT_EQ(put->version, 2);

  Certificate again = certificate("api", *api_, {"api.example.com"});
  again.tags = {"edge"};
  auto same = store_->put<Certificate>("api", again, {});
  ASSERT_TRUE(same.ok()) << same.error().message;
  EXPECT_EQ(same->version, 2) << "the same key sent again is no change";
  EXPECT_EQ(same->entity.key_encrypted, sealed);
}

TEST_F(CertificateStoreTest, ANewCertNeedsItsOwnKey) {
  ASSERT_TRUE(store_->create(certificate("api", *api_, {"api.example.com"}), {}).ok());
  auto mismatch =
      store_->put<Certificate>("api", certificate("api", *www_, {"api.example.com"}, false), {});
  EXPECT_TRUE(testing::namesStoreField(mismatch, ErrorCode::kInvalid, "key", "new cert"));
  EXPECT_EQ(storeVersion(), 1);

  auto replaced =
      store_->put<Certificate>("api", certificate("api", *www_, {"www.example.com"}), {});
  ASSERT_TRUE(replaced.ok()) << replaced.error().message;
  EXPECT_EQ(unsealed(replaced->entity), www_->key_pem);
}

TEST_F(CertificateStoreTest, SnisAndTheDefaultAreClaimedOnce) {
  ASSERT_TRUE(
      store_->create(certificate("api", *api_, {"api.example.com", "*.example.org"}), {}).ok());
  auto taken = store_->create(certificate("www", *www_, {"www.example.com", "*.example.org"}), {});
  EXPECT_TRUE(testing::namesStoreField(taken, ErrorCode::kConflict, "snis[1]", "'api'"));

  Certificate first_default = certificate("www", *www_, {"www.example.com"});
  first_default.is_default = true;
  ASSERT_TRUE(store_->create(first_default, {}).ok());
  Certificate second_default = certificate("api", *api_, {"api.example.com"}, false);
  second_default.is_default = true;
  auto second = store_->put<Certificate>("api", second_default, {});
  EXPECT_TRUE(testing::namesStoreField(second, ErrorCode::kConflict, "default", "'www'"));

  // A certificate may keep its own names, and freed names can be taken.
  ASSERT_TRUE(store_->remove<Certificate>("api", {}).ok());
  auto now_free =
      store_->put<Certificate>("www", certificate("www", *www_, {"*.example.org"}, false), {});
  ASSERT_TRUE(now_free.ok()) << now_free.error().message;
}

TEST_F(CertificateStoreTest, ASealedKeyMustOpenUnderThisKeyringForThisCertificate) {
  auto stored = store_->create(certificate("api", *api_, {"api.example.com"}), {});
  ASSERT_TRUE(stored.ok()) << stored.error().message;

  auto other = Keyring::loadOrCreate(dir_.file("other.keyring"));
  ASSERT_TRUE(other.ok());
  Certificate foreign = certificate("www", *www_, {"www.example.com"}, false);
  foreign.id = "0b5c8a46-0a7b-4c43-9e43-5b7a2b8f9d10";
  foreign.key_encrypted = other->seal(www_->key_pem, foreign.id);
  auto refused = store_->create(foreign, {});
  EXPECT_TRUE(testing::namesStoreField(refused, ErrorCode::kInvalid, "key_encrypted",
                                       "sealed under keyring " + other->id()));

  // Sealed by this keyring, but for another certificate (the id is the associated data).
  foreign.key_encrypted = stored->entity.key_encrypted;
  foreign.cert = api_->cert_pem;
  auto moved = store_->create(foreign, {});
  EXPECT_TRUE(testing::namesStoreField(moved, ErrorCode::kInvalid, "key_encrypted",
                                       "does not open for this certificate"));

  // Sealed for this id under this keyring, but another certificate's key.
  foreign.cert = www_->cert_pem;
  foreign.key_encrypted = keyring_->seal(api_->key_pem, foreign.id);
  auto wrong = store_->create(foreign, {});
  EXPECT_TRUE(
      testing::namesStoreField(wrong, ErrorCode::kInvalid, "key_encrypted", "not the private key"));

  foreign.key_encrypted = keyring_->seal(www_->key_pem, foreign.id);
  auto accepted = store_->create(foreign, {});
  ASSERT_TRUE(accepted.ok()) << accepted.error().message;
  EXPECT_EQ(unsealed(accepted->entity), www_->key_pem);
  EXPECT_EQ(storeVersion(), 2);
}

TEST_F(CertificateStoreTest, RestoreBringsBackACertificateWhoseKeyStillOpens) {
  auto created = store_->create(certificate("api", *api_, {"api.example.com"}), {});
  ASSERT_TRUE(created.ok()) << created.error().message;
  ASSERT_TRUE(store_->remove<Certificate>("api", {}).ok());
  EXPECT_FALSE(store_->get<Certificate>("api").ok());

  auto history = store_->historyEntry(2);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->changes.size(), 1u);
  EXPECT_EQ(history->changes[0].entity_type, "certificate");
  EXPECT_EQ(history->changes[0].before["key_encrypted"], created->entity.key_encrypted);

  auto restored = store_->restore(1, {});
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->version, 3);
  auto back = store_->get<Certificate>("api");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->id, created->entity.id);
  EXPECT_EQ(unsealed(*back), api_->key_pem);

  // And it is an ordinary certificate again: deletable, restorable, its SNI claimed.
  auto clash = store_->create(certificate("www", *www_, {"api.example.com"}), {});
  EXPECT_TRUE(testing::namesStoreField(clash, ErrorCode::kConflict, "snis[0]"));
  ASSERT_TRUE(store_->remove<Certificate>("api", {}).ok());
  ASSERT_TRUE(store_->restore(3, {}).ok());
  auto again = store_->get<Certificate>("api");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(unsealed(*again), api_->key_pem);
}

TEST_F(CertificateStoreTest, ExportThenImportChangesNothing) {
  Certificate fallback = parsed(
      {{"name", "fallback"}, {"cert", www_->cert_pem}, {"key", www_->key_pem}, {"default", true}});
  ASSERT_TRUE(store_->create(fallback, {}).ok());
  ASSERT_TRUE(store_->create(certificate("api", *api_, {"api.example.com"}), {}).ok());
  auto exported = store_->loadConfig();
  ASSERT_TRUE(exported.ok());
  const json document = model::toJson(*exported);
  ASSERT_EQ(document["certificates"].size(), 2u);
  EXPECT_THAT(document["certificates"][1]["key_encrypted"].get<std::string>(), StartsWith("v1:"));
  EXPECT_EQ(document.dump().find("PRIVATE KEY"), std::string::npos);

  auto parsed_config = model::parseConfig(document);
  ASSERT_TRUE(parsed_config.ok()) << parsed_config.error().message;
  auto replaced = store_->replaceConfig(*parsed_config, {}, /*dry_run=*/false);
  ASSERT_TRUE(replaced.ok()) << replaced.error().message;
  EXPECT_TRUE(replaced->changes.empty());
  EXPECT_EQ(replaced->version, 2);

  // The same keys in plain text are no change either; a certificate left out is deleted.
  json plain = document;
  plain["certificates"][1].erase("key_encrypted");
  plain["certificates"][1]["key"] = api_->key_pem;
  plain["certificates"].erase(0);
  auto plain_config = model::parseConfig(plain);
  ASSERT_TRUE(plain_config.ok()) << plain_config.error().message;
  auto dropped = store_->replaceConfig(*plain_config, {}, /*dry_run=*/false);
  ASSERT_TRUE(dropped.ok()) << dropped.error().message;
  ASSERT_EQ(dropped->changes.size(), 1u);
  EXPECT_TRUE(dropped->changes[0].after.is_null());
  auto api = store_->get<Certificate>("api");
  ASSERT_TRUE(api.ok());
  EXPECT_EQ(api->key_encrypted, document["certificates"][1]["key_encrypted"]);
}

TEST_F(CertificateStoreTest, ImportsNameTheEntryThatClaimsTwiceOrLacksAKey) {
  ASSERT_TRUE(store_->create(certificate("api", *api_, {"api.example.com"}), {}).ok());
  ASSERT_TRUE(store_->create(certificate("www", *www_, {"www.example.com"}), {}).ok());
  auto current = store_->loadConfig();
  ASSERT_TRUE(current.ok());

  // Two certificates may swap their names in one import.
  model::Config swapped = *current;
  std::swap(swapped.certificates[0].snis, swapped.certificates[1].snis);
  swapped.certificates[0].cert = www_->cert_pem;
  swapped.certificates[0].key_encrypted.clear();
  swapped.certificates[0].key_pem = www_->key_pem;
  swapped.certificates[1].cert = api_->cert_pem;
  swapped.certificates[1].key_encrypted.clear();
  swapped.certificates[1].key_pem = api_->key_pem;
  auto swap = store_->replaceConfig(swapped, {}, /*dry_run=*/false);
  ASSERT_TRUE(swap.ok()) << swap.error().message;
  EXPECT_EQ(store_->get<Certificate>("api")->snis, std::vector<std::string>{"www.example.com"});

  model::Config twice = *current;
  twice.certificates[1].snis.push_back("api.example.com");
  auto clash = store_->replaceConfig(twice, {}, /*dry_run=*/false);
  EXPECT_TRUE(
      testing::namesStoreField(clash, ErrorCode::kConflict, "certificates[1].snis[1]", "[0]"));

  model::Config defaults = *current;
  defaults.certificates[0].is_default = defaults.certificates[1].is_default = true;
  auto two_defaults = store_->replaceConfig(defaults, {}, /*dry_run=*/true);
  EXPECT_TRUE(
      testing::namesStoreField(two_defaults, ErrorCode::kConflict, "certificates[1].default"));

  model::Config keyless = *current;
  keyless.certificates.push_back(certificate("new", *api_, {"new.example.com"}, false));
  auto no_key = store_->replaceConfig(keyless, {}, /*dry_run=*/false);
  EXPECT_TRUE(testing::namesStoreField(no_key, ErrorCode::kInvalid, "certificates[2].key"));
  EXPECT_EQ(storeVersion(), 3);
}

TEST_F(CertificateStoreTest, CheckSealedKeysNamesACertificateOfAnotherKeyring) {
  ASSERT_TRUE(store_->create(certificate("api", *api_, {"api.example.com"}), {}).ok());
  EXPECT_TRUE(store_->checkSealedKeys().ok());
  auto counts = store_->counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->certificates, 1);
  store_.reset();

  auto other = Keyring::loadOrCreate(dir_.file("other.keyring"));
  ASSERT_TRUE(other.ok());
  auto reopened =
      ConfigStore::open(dir_.file("turnpike.db"), nullptr, std::make_shared<const Keyring>(*other));
  ASSERT_TRUE(reopened.ok());
  model::Status checked = (*reopened)->checkSealedKeys();
  ASSERT_FALSE(checked.ok());
  EXPECT_THAT(checked.error().message, HasSubstr("certificate 'api'"));
  EXPECT_THAT(checked.error().message, HasSubstr(keyring_->id()));
  EXPECT_THAT(checked.error().message, HasSubstr(other->id()));
}

}  // namespace
}  // namespace turnpike::storage
