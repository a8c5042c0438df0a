#include "proxy/proxy_answer.h"

#include <cstdio>

#include "model/http_status.h"

namespace turnpike::proxy {

void appendJsonEscaped(std::string_view text, std::string& out) {
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out.push_back(c);
        }
    }
  }
}

void renderProblem(const ProxyAnswer& answer, std::string_view request_id, bool keep_alive,
                   bool head, std::string& out) {
  const std::string_view title = model::reasonPhrase(answer.status);
  std::string body;
  body.reserve(128 + answer.detail.size() + request_id.size());
  body += R"({"type":"about:blank","title":")";
  body += title;
  body += R"(","status":)";
  body += std::to_string(answer.status);
  body += R"(,"detail":")";
  appendJsonEscaped(answer.detail, body);
  body += R"(","request_id":")";
  appendJsonEscaped(request_id, body);
  body += '"';
  if (!answer.extra_members.empty()) {
    body += ',';
    body += answer.extra_members;
  }
  body += "}\n";

  out += "HTTP/1.1 ";
  out += std::to_string(answer.status);
  out += ' ';
  out += title;
  out += "\r\nContent-Type: application/problem+json\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\nX-Request-Id: ";
  out += request_id;
  out += "\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  for (const auto& [name, value] : answer.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "\r\n";
  if (!head) out += body;
}

}  // namespace turnpike::proxy
