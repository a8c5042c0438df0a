#include "proxy/tls/certificate_table.h"

#include <array>
#include <cctype>

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

model::Result<std::shared_ptr<const CertificateTable>> ContextCache::build(
    const std::vector<model::Certificate>& certificates, const KeyOpener& open_key) {
  std::lock_guard lock(mu_);
  auto table = std::make_shared<CertificateTable>();
  StringMap<Loaded> next;
  Stats stats;
  table->contexts_.reserve(certificates.size());
  for (const model::Certificate& c : certificates) {
    const std::string& key = c.key_encrypted.empty() ? c.key_pem : c.key_encrypted;
    const std::string client_ca = c.client_ca.value_or("");
    std::shared_ptr<const ServerContext> context;
    if (auto it = by_id_.find(c.id); it != by_id_.end() && it->second.name == c.name &&
                                     it->second.cert == c.cert && it->second.key == key &&
                                     it->second.client_ca == client_ca &&
                                     it->second.client_verify == c.client_verify) {
      context = it->second.context;
      ++stats.reused;
    } else {
      model::Certificate opened = c;
      if (open_key) {
        auto pem = open_key(c);
        if (!pem) {
          return model::Error::internal("certificate '" + c.name +
                                        "': the key does not open: " + pem.error().message);
        }
        opened.key_pem = std::move(*pem);
      }
      auto made = ServerContext::make(opened);
      if (!made) return made.error();
      context = std::move(*made);
      ++stats.loaded;
    }
    const ServerContext* raw = context.get();
    next.insert_or_assign(c.id, Loaded{c.name, c.cert, key, client_ca, c.client_verify, context});
    table->contexts_.push_back(std::move(context));
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
