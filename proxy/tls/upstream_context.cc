#include "proxy/tls/upstream_context.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <utility>

#include "proxy/tls/server_context.h"

namespace turnpike::proxy::tls {
namespace {

using model::Error;

bool isIpAddress(const std::string& name) {
  unsigned char address[16];
  return inet_pton(AF_INET, name.c_str(), address) == 1 ||
         inet_pton(AF_INET6, name.c_str(), address) == 1;
}

bool hasHttpsTarget(const model::Service& service) {
  for (const model::Target& target : service.targets) {
    if (target.url.starts_with("https://")) return true;
  }
  return false;
}

}  // namespace

model::Result<std::shared_ptr<const UpstreamContext>> UpstreamContext::make(
    const model::ServiceTls* settings, const model::Certificate* client,
    std::string_view client_key_pem) {
  const model::ServiceTls defaults;
  if (settings == nullptr) settings = &defaults;
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
    ERR_clear_error();
    return Error::internal("OpenSSL refused the TLS client policy");
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (settings->verify) {
    if (!settings->ca.empty()) {
      std::vector<model::X509Ptr> authorities = model::readCertificates(settings->ca);
      if (authorities.empty()) return Error::invalid("tls.ca holds no certificate");
      X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
      for (const model::X509Ptr& authority : authorities) {
        if (X509_STORE_add_cert(store, authority.get()) != 1) {
          ERR_clear_error();
          return Error::internal("OpenSSL refused a tls.ca certificate");
        }
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      ERR_clear_error();
      return Error::internal("the system's certificate store does not load");
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_verify_depth(ctx.get(), 8);
  }
  if (client != nullptr) {
    if (std::string failed = loadChainAndKey(ctx.get(), client->cert, client_key_pem, nullptr);
        !failed.empty()) {
      return Error::internal("client certificate '" + client->name + "': " + failed);
    }
  }
  return std::shared_ptr<const UpstreamContext>(
      new UpstreamContext(std::move(ctx), settings->verify, settings->server_name));
}

SSL* UpstreamContext::newSsl(const std::string& host) const {
  SSL* ssl = SSL_new(ctx_.get());
  if (ssl == nullptr) return nullptr;
  const std::string& name = server_name_.empty() ? host : server_name_;
  const bool ip = isIpAddress(name);
  bool ok = ip || SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
  if (ok && verify_) {
    if (ip) {
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1;
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set1_host(ssl, name.c_str()) == 1;
    }
  }
  if (!ok) {
    ERR_clear_error();
    SSL_free(ssl);
    return nullptr;
  }
  return ssl;
}

std::string UpstreamContext::failure(SSL* ssl, const boost::system::error_code& ec) {
  if (ssl != nullptr) {
    if (const long result = SSL_get_verify_result(ssl); result != X509_V_OK) {
      std::string why = "certificate verify failed: ";
      why += X509_verify_cert_error_string(result);
      if (result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        const X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        if (const char* host =
                X509_VERIFY_PARAM_get0_host(const_cast<X509_VERIFY_PARAM*>(param), 0)) {
          why += std::string(" (the certificate is not for ") + host + ")";
        } else if (char* ip =
                       X509_VERIFY_PARAM_get1_ip_asc(const_cast<X509_VERIFY_PARAM*>(param))) {
          why += std::string(" (the certificate is not for ") + ip + ")";
          OPENSSL_free(ip);
        }
      }
      return why;
    }
  }
  if (ec == boost::asio::ssl::error::stream_truncated || ec == boost::asio::error::eof) {
    return "the target closed the connection during the handshake";
  }
  return ec.message();
}

model::Result<UpstreamContexts> UpstreamContextCache::build(
    const std::vector<model::Service>& services,
    const std::vector<model::Certificate>& certificates, const KeyOpener& open_key) {
  std::lock_guard lock(mu_);
  StringMap<const model::Certificate*> certificate_by_id;
  for (const model::Certificate& c : certificates) certificate_by_id.emplace(c.id, &c);

  UpstreamContexts out;
  StringMap<Loaded> kept;
  for (const model::Service& service : services) {
    if (!hasHttpsTarget(service)) continue;
    const model::ServiceTls settings = service.tls.value_or(model::ServiceTls{});
    const model::Certificate* client = nullptr;
    if (!settings.client_certificate.empty()) {
      auto it = certificate_by_id.find(settings.client_certificate);
      if (it == certificate_by_id.end()) {
        return Error::invalid("service '" + service.name + "': tls.client_certificate '" +
                              settings.client_certificate + "' not found");
      }
      client = it->second;
    }
    Loaded loaded{.settings = settings};
    if (client != nullptr) {
      loaded.client_cert = client->cert;
      loaded.client_key = client->key_encrypted.empty() ? client->key_pem : client->key_encrypted;
    }
    if (auto previous = by_service_.find(service.id);
        previous != by_service_.end() && previous->second.settings == loaded.settings &&
        previous->second.client_cert == loaded.client_cert &&
        previous->second.client_key == loaded.client_key) {
      loaded.context = previous->second.context;
    } else {
      std::string key;
      if (client != nullptr) {
        if (open_key) {
          auto opened = open_key(*client);
          if (!opened) {
            return Error::internal("service '" + service.name + "': the key of certificate '" +
                                   client->name + "': " + opened.error().message);
          }
          key = std::move(*opened);
        } else {
          key = client->key_pem;
        }
      }
      auto made = UpstreamContext::make(&settings, client, key);
      OPENSSL_cleanse(key.data(), key.size());  // loaded into the context: the text goes
      if (!made) {
        return Error::internal("service '" + service.name + "': " + made.error().message);
      }
      loaded.context = std::move(*made);
    }
    out.emplace(service.id, loaded.context);
    kept.emplace(service.id, std::move(loaded));
  }
  by_service_ = std::move(kept);
  return out;
}

}  // namespace turnpike::proxy::tls
