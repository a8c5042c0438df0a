#include "proxy/tls/certificate_table.h"

#include <array>
#include <cctype>

#include "model/api_key.h"

namespace turnpike::proxy::tls {
namespace {

// What makes two certificates load into the same context.
std::string contentKey(const model::Certificate& c) {
  std::string material;
  for (std::string_view part :
       {std::string_view(c.name), std::string_view(c.cert), std::string_view(c.key_pem),
        model::toString(c.client_verify), std::string_view(c.client_ca.value_or(""))}) {
    material += std::to_string(part.size());
    material += ':';
    material += part;
  }
  return model::sha256Hex(material);
}

}  // namespace

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
    const std::vector<model::Certificate>& certificates) {
  std::lock_guard lock(mu_);
  auto table = std::make_shared<CertificateTable>();
  StringMap<std::shared_ptr<const ServerContext>> next;
  Stats stats;
  table->contexts_.reserve(certificates.size());
  for (const model::Certificate& c : certificates) {
    std::string key = contentKey(c);
    std::shared_ptr<const ServerContext> context;
    if (auto it = by_content_.find(key); it != by_content_.end()) {
      context = it->second;
      ++stats.reused;
    } else {
      auto made = ServerContext::make(c);
      if (!made) return made.error();
      context = std::move(*made);
      ++stats.loaded;
    }
    next.insert_or_assign(std::move(key), context);
    const ServerContext* raw = context.get();
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
  by_content_ = std::move(next);
  stats_ = stats;
  return std::shared_ptr<const CertificateTable>(std::move(table));
}

ContextCache::Stats ContextCache::lastBuild() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace turnpike::proxy::tls
