#include "proxy/proxy_answer.h"

#include <cstdio>

namespace turnpike::proxy {

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

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
  const std::string_view title = reasonPhrase(answer.status);
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
  body += "\"}\n";

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
