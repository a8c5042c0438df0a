// Services' tls settings in the store: tls.client_certificate given by name or id and stored as
// the certificate's id on every write path, an unknown certificate refused naming the field, a
// certificate in use kept from deletion, and export, import, history and restore carrying tls.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "model/certificate.h"
#include "model/config.h"
#include "model/service.h"
#include "storage/config_store.h"
#include "storage/keyring.h"
#include "tests/support/test_certificates.h"
#include "tests/unit/storage/storage_test_util.h"

namespace turnpike::storage {
namespace {

using model::Certificate;
using model::ErrorCode;
using model::Service;
using model::ServiceTls;
using nlohmann::json;
using test_support::makeCertificate;
using test_support::TestCertificate;

class ServiceTlsStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    client_ = new TestCertificate(makeCertificate({.common_name = "gateway.example.com"}));
    ca_ = new TestCertificate(makeCertificate({.common_name = "Upstream CA", .is_ca = true}));
  }
  static void TearDownTestSuite() {
    delete client_;
    delete ca_;
  }

  void SetUp() override {
    auto keyring = Keyring::loadOrCreate(dir_.file("turnpike.db.keyring"));
    ASSERT_TRUE(keyring.ok()) << keyring.error().message;
    auto store = ConfigStore::open(dir_.file("turnpike.db"), nullptr,
                                   std::make_shared<const Keyring>(*keyring));
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
  }

  // A stored certificate for services to present; one SNI of its own so that several coexist.
  Certificate storedCertificate(const std::string& name) {
    json body = {{"name", name},
                 {"cert", client_->cert_pem},
                 {"key", client_->key_pem},
                 {"snis", {name + ".example.com"}}};
    auto parsed = model::parseCertificate(body);
    EXPECT_TRUE(parsed.ok()) << (parsed ? "" : parsed.error().message);
    auto created = store_->create(*parsed, {});
    EXPECT_TRUE(created.ok()) << (created ? "" : created.error().message);
    return created ? created->entity : Certificate{};
  }

  static Service tlsService(const std::string& name, const json& tls) {
    auto r = model::parseService(
        {{"name", name}, {"targets", {{{"url", "https://10.0.0.5:8443"}}}}, {"tls", tls}});
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    return r ? *r : Service{};
  }

  int64_t storeVersion() {
    auto v = store_->version();
    return v ? *v : -1;
  }

  static TestCertificate* client_;
  static TestCertificate* ca_;
  testing::TempDir dir_;
  std::unique_ptr<ConfigStore> store_;
};
TestCertificate* ServiceTlsStoreTest::client_ = nullptr;
TestCertificate* ServiceTlsStoreTest::ca_ = nullptr;

TEST_F(ServiceTlsStoreTest, ClientCertificateByNameOrIdIsStoredAsTheId) {
  const Certificate cert = storedCertificate("edge-client");

  auto by_name = store_->create(tlsService("orders", {{"client_certificate", "edge-client"}}), {});
  ASSERT_TRUE(by_name.ok()) << by_name.error().message;
  ASSERT_TRUE(by_name->entity.tls.has_value());
  EXPECT_EQ(by_name->entity.tls->client_certificate, cert.id);
  auto loaded = store_->get<Service>("orders");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->tls->client_certificate, cert.id);

  auto by_id = store_->create(tlsService("billing", {{"client_certificate", cert.id}}), {});
  ASSERT_TRUE(by_id.ok()) << by_id.error().message;
  EXPECT_EQ(by_id->entity.tls->client_certificate, cert.id);

  // A replacement resolves the same way, and keeps the other tls fields as given.
  auto put = store_->put("billing",
                         tlsService("billing", {{"verify", false},
                                                {"server_name", "billing.internal"},
                                                {"client_certificate", "edge-client"}}),
                         {});
  ASSERT_TRUE(put.ok()) << put.error().message;
  EXPECT_EQ(put->entity.tls, (ServiceTls{.verify = false,
                                         .server_name = "billing.internal",
                                         .client_certificate = cert.id}));
}

TEST_F(ServiceTlsStoreTest, AnUnknownCertificateIsRefusedNamingTheField) {
  storedCertificate("edge-client");
  ASSERT_TRUE(store_->create(tlsService("orders", json::object()), {}).ok());
  const int64_t before = storeVersion();

  auto created = store_->create(tlsService("billing", {{"client_certificate", "nope"}}), {});
  EXPECT_TRUE(testing::namesStoreField(created, ErrorCode::kInvalid, "tls.client_certificate",
                                       "certificate 'nope' not found"));
  auto put = store_->put("orders", tlsService("orders", {{"client_certificate", "nope"}}), {});
  EXPECT_TRUE(
      testing::namesStoreField(put, ErrorCode::kInvalid, "tls.client_certificate", "'nope'"));
  auto unknown_id = store_->create(
      tlsService("shipping", {{"client_certificate", "0f8fad5b-d9cb-469f-a165-70867728950e"}}), {});
  EXPECT_TRUE(testing::namesStoreField(unknown_id, ErrorCode::kInvalid, "tls.client_certificate"));

  EXPECT_EQ(storeVersion(), before);
  EXPECT_FALSE(store_->get<Service>("billing").ok());
  EXPECT_TRUE(store_->get<Service>("orders")->tls->client_certificate.empty());
}

TEST_F(ServiceTlsStoreTest, DeletingACertificateInUseIsAConflictNamingTheServices) {
  storedCertificate("edge-client");
  storedCertificate("unused");
  ASSERT_TRUE(
      store_->create(tlsService("orders", {{"client_certificate", "edge-client"}}), {}).ok());
  ASSERT_TRUE(
      store_->create(tlsService("billing", {{"client_certificate", "edge-client"}}), {}).ok());
  ASSERT_TRUE(store_->create(tlsService("plain", json::object()), {}).ok());
  const int64_t before = storeVersion();

  auto refused = store_->remove<Certificate>("edge-client", {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  EXPECT_EQ(refused.error().message, "certificate is used by services: orders, billing");
  EXPECT_EQ(storeVersion(), before);
  EXPECT_TRUE(store_->get<Certificate>("edge-client").ok());

  ASSERT_TRUE(store_->remove<Certificate>("unused", {}).ok());
  // Once no service presents it, it goes.
  ASSERT_TRUE(store_->remove<Service>("orders", {}).ok());
  ASSERT_TRUE(store_->put("billing", tlsService("billing", json::object()), {}).ok());
  EXPECT_TRUE(store_->remove<Certificate>("edge-client", {}).ok());
}

TEST_F(ServiceTlsStoreTest, ImportResolvesNamesAndNamesTheEntryOfAMissingCertificate) {
  const Certificate cert = storedCertificate("edge-client");
  auto current = store_->loadConfig();
  ASSERT_TRUE(current.ok());

  model::Config config = *current;
  config.services.push_back(tlsService("orders", json::object()));
  config.services.push_back(tlsService("billing", {{"client_certificate", "edge-client"}}));
  auto imported = store_->replaceConfig(config, {}, /*dry_run=*/false);
  ASSERT_TRUE(imported.ok()) << imported.error().message;
  EXPECT_EQ(store_->get<Service>("billing")->tls->client_certificate, cert.id);

  const int64_t before = storeVersion();
  model::Config unknown = config;
  unknown.services[1].tls->client_certificate = "nope";
  auto refused = store_->replaceConfig(unknown, {}, /*dry_run=*/false);
  EXPECT_TRUE(testing::namesStoreField(refused, ErrorCode::kInvalid,
                                       "services[1].tls.client_certificate",
                                       "certificate 'nope' not found in the configuration"));

  // A document that drops the certificate a service still presents is refused as well.
  model::Config dropped = config;
  dropped.certificates.clear();
  auto dangling = store_->replaceConfig(dropped, {}, /*dry_run=*/true);
  EXPECT_TRUE(testing::namesStoreField(dangling, ErrorCode::kInvalid,
                                       "services[1].tls.client_certificate"));
  EXPECT_EQ(storeVersion(), before);

  // A certificate created by the same document may be named by it.
  model::Config fresh = config;
  auto extra = model::parseCertificate({{"name", "fresh-client"},
                                        {"cert", client_->cert_pem},
                                        {"key", client_->key_pem},
                                        {"snis", {"fresh.example.com"}}});
  ASSERT_TRUE(extra.ok()) << extra.error().message;
  fresh.certificates.push_back(*extra);
  fresh.services[0].tls->client_certificate = "fresh-client";
  auto with_new = store_->replaceConfig(fresh, {}, /*dry_run=*/false);
  ASSERT_TRUE(with_new.ok()) << with_new.error().message;
  auto fresh_cert = store_->get<Certificate>("fresh-client");
  ASSERT_TRUE(fresh_cert.ok());
  EXPECT_EQ(store_->get<Service>("orders")->tls->client_certificate, fresh_cert->id);
}

TEST_F(ServiceTlsStoreTest, ExportThenImportChangesNothing) {
  storedCertificate("edge-client");
  ASSERT_TRUE(store_
                  ->create(tlsService("orders", {{"verify", false},
                                                 {"ca", ca_->cert_pem},
                                                 {"server_name", "orders.internal"},
                                                 {"client_certificate", "edge-client"}}),
                           {})
                  .ok());
  ASSERT_TRUE(store_->create(tlsService("plain", nullptr), {}).ok());
  auto exported = store_->loadConfig();
  ASSERT_TRUE(exported.ok());
  const json document = model::toJson(*exported);
  const json& tls = document["services"][0]["tls"];
  EXPECT_EQ(tls["verify"], false);
  EXPECT_EQ(tls["ca"], ca_->cert_pem);
  EXPECT_EQ(tls["server_name"], "orders.internal");
  EXPECT_EQ(tls["client_certificate"], document["certificates"][0]["id"]);
  EXPECT_TRUE(document["services"][1]["tls"].is_null());

  auto parsed = model::parseConfig(document);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  auto replaced = store_->replaceConfig(*parsed, {}, /*dry_run=*/false);
  ASSERT_TRUE(replaced.ok()) << replaced.error().message;
  EXPECT_TRUE(replaced->changes.empty());
  auto again = store_->loadConfig();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->services, exported->services);
}

TEST_F(ServiceTlsStoreTest, HistoryAndRestoreCarryTls) {
  const Certificate cert = storedCertificate("edge-client");
  ASSERT_TRUE(store_
                  ->create(tlsService("orders", {{"ca", ca_->cert_pem},
                                                 {"client_certificate", "edge-client"}}),
                           {})
                  .ok());
  const int64_t with_tls = storeVersion();
  Service plain = tlsService("orders", nullptr);
  ASSERT_TRUE(store_->put("orders", plain, {}).ok());
  EXPECT_FALSE(store_->get<Service>("orders")->tls.has_value());

  auto entry = store_->historyEntry(storeVersion());
  ASSERT_TRUE(entry.ok());
  ASSERT_EQ(entry->changes.size(), 1u);
  EXPECT_EQ(entry->changes[0].before["tls"]["client_certificate"], cert.id);
  EXPECT_TRUE(entry->changes[0].after["tls"].is_null());

  auto restored = store_->restore(with_tls, {});
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  auto back = store_->get<Service>("orders");
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->tls.has_value());
  EXPECT_EQ(back->tls->ca, ca_->cert_pem);
  EXPECT_EQ(back->tls->client_certificate, cert.id);
  // The restored service presents the certificate again: it cannot be deleted.
  auto refused = store_->remove<Certificate>("edge-client", {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
}

}  // namespace
}  // namespace turnpike::storage
