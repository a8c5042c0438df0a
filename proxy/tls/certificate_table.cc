#include "proxy/tls/certificate_table.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <thread>

namespace turnpike::proxy::tls {

const ServerContext* CertificateTable::select(std::string_view server_name) const {
  std::array<char, 256> lower;  // a DNS name has at most 253 characters
  if (!server_name.empty() && server_name.size() <= lower.size()) {
    for (std::size_t i = 0; i < server_name.size(); ++i) {
      lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(server_name[i])));
    }
    const std::string_view name(lower.data(), server_name.size());
    if (auto it = exact_.find(name); it != exact_.end()) return it->second;
    if (const std::size_t dot = name.find('.'); dot != 0 && dot != std::string_view::npos) {
      if (auto it = wildcard_.find(name.substr(dot)); it != wildcard_.end()) return it->second;
    }
  }
  return default_;
}

namespace {

model::Result<std::shared_ptr<const ServerContext>> load(const model::Certificate& c,
                                                         const ContextCache::KeyOpener& open_key,
                                                         KeyDecoder& keys) {
  if (!open_key) return ServerContext::make(c, &keys);
  auto pem = open_key(c);
  if (!pem) {
    return model::Error::internal("certificate '" + c.name +
                                  "': the key does not open: " + pem.error().message);
  }
  model::Certificate opened = c;
  opened.key_pem = std::move(*pem);
  auto made = ServerContext::make(opened, &keys);
  OPENSSL_cleanse(opened.key_pem.data(), opened.key_pem.size());  // loaded: the text goes
  return made;
}

}  // namespace

model::Result<std::shared_ptr<const CertificateTable>> ContextCache::build(
    const std::vector<model::Certificate>& certificates, const KeyOpener& open_key) {
  std::lock_guard lock(mu_);
  Stats stats;
  // Which contexts carry over, and which must be loaded.
  std::vector<std::shared_ptr<const ServerContext>> contexts(certificates.size());
  std::vector<std::size_t> to_load;
  for (std::size_t i = 0; i < certificates.size(); ++i) {
    const model::Certificate& c = certificates[i];
    const std::string& key = c.key_encrypted.empty() ? c.key_pem : c.key_encrypted;
    if (auto it = by_id_.find(c.id); it != by_id_.end() && it->second.name == c.name &&
                                     it->second.cert == c.cert && it->second.key == key &&
                                     it->second.client_ca == c.client_ca.value_or("") &&
                                     it->second.client_verify == c.client_verify) {
      contexts[i] = it->second.context;
      ++stats.reused;
    } else {
      to_load.push_back(i);
    }
  }

  // Loading is OpenSSL parsing PEMs and setting up contexts. On more threads it went no faster
  // (OpenSSL 3.0 takes locks of its own on each step), so it is done here, with one KeyDecoder.
  std::optional<KeyDecoder> keys;
  for (std::size_t i : to_load) {
    auto made = load(certificates[i], open_key, keys ? *keys : keys.emplace());
    if (!made) return made.error();
    contexts[i] = std::move(*made);
  }
  stats.loaded = to_load.size();

  auto table = std::make_shared<CertificateTable>();
  StringMap<Loaded> next;
  table->contexts_.reserve(certificates.size());
  for (std::size_t i = 0; i < certificates.size(); ++i) {
    const model::Certificate& c = certificates[i];
    const ServerContext* raw = contexts[i].get();
    next.insert_or_assign(
        c.id, Loaded{c.name, c.cert, c.key_encrypted.empty() ? c.key_pem : c.key_encrypted,
                     c.client_ca.value_or(""), c.client_verify, contexts[i]});
    table->contexts_.push_back(std::move(contexts[i]));
    for (const std::string& sni : c.snis) {
      if (sni.starts_with("*.")) {
        table->wildcard_.try_emplace(sni.substr(1), raw);
      } else {
        table->exact_.try_emplace(sni, raw);
      }
    }
    if (c.is_default) table->default_ = raw;
  }
  by_id_ = std::move(next);
  stats_ = stats;
  return std::shared_ptr<const CertificateTable>(std::move(table));
}

ContextCache::Stats ContextCache::lastBuild() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace turnpike::proxy::tls
