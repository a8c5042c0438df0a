#include "proxy/http_fields.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <cstring>

#include "proxy/request_view.h"

namespace turnpike::proxy {

namespace http = boost::beast::http;

Fields& Fields::operator=(const Fields& other) {
  if (this == &other) return *this;
  clear();
  if (other.used_ > 0) std::memcpy(room(other.used_), other.text_.get(), other.used_);
  used_ = other.used_;
  entries_ = other.entries_;
  return *this;
}

char* Fields::grow(std::size_t size) {
  const std::size_t capacity = std::max({std::size_t{512}, capacity_ * 2, used_ + size});
  auto text = std::make_unique_for_overwrite<char[]>(capacity);
  if (used_ > 0) std::memcpy(text.get(), text_.get(), used_);
  text_ = std::move(text);
  capacity_ = capacity;
  return text_.get() + used_;
}

void Fields::insert(http::field name, std::string_view name_string, std::string_view value) {
  const std::size_t size = name_string.size() + value.size() + 4;
  char* p = room(size);
  std::memcpy(p, name_string.data(), name_string.size());
  p += name_string.size();
  *p++ = ':';
  *p++ = ' ';
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p = '\n';
  entries_.push_back({.offset = static_cast<uint32_t>(used_),
                      .size = static_cast<uint32_t>(size),
                      .name_size = static_cast<uint32_t>(name_string.size()),
                      .name = name});
  used_ += size;
}

void Fields::insert(std::string_view name, std::string_view value) {
  insert(http::string_to_field(name), name, value);
}

void Fields::insert(http::field name, std::string_view value) {
  const auto name_string = http::to_string(name);
  insert(name, std::string_view(name_string.data(), name_string.size()), value);
}

void Fields::set(std::string_view name, std::string_view value) {
  erase(name);
  insert(name, value);
}

void Fields::set(http::field name, std::string_view value) {
  const auto name_string = http::to_string(name);
  set(std::string_view(name_string.data(), name_string.size()), value);
}

std::size_t Fields::erase(std::string_view name) {
  // The lines stay in the text (unreferenced) until clear(): erasing is for building messages,
  // not for the request path.
  const std::size_t before = entries_.size();
  std::erase_if(entries_, [&](const Entry& e) { return matches(e, name); });
  return before - entries_.size();
}

bool Fields::matches(const Entry& e, std::string_view name) const {
  return e.name_size == name.size() &&
         equalsIgnoreCase(std::string_view(text_.get() + e.offset, e.name_size), name);
}

std::string_view Fields::operator[](std::string_view name) const {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (matches(entries_[i], name)) return Field(text_.get(), &entries_[i]).value();
  }
  return {};
}

std::string_view Fields::operator[](http::field name) const {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].name == name) return Field(text_.get(), &entries_[i]).value();
  }
  return {};
}

std::size_t Fields::count(std::string_view name) const {
  return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(),
                                                [&](const Entry& e) { return matches(e, name); }));
}

std::size_t Fields::count(http::field name) const {
  return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(),
                                                [&](const Entry& e) { return e.name == name; }));
}

template <bool isRequest>
std::size_t HttpParser<isRequest>::copyBody(string_view bytes, error_code& ec) {
  auto& body = message_.body_;
  if (body.data == nullptr) {
    ec = http::error::need_buffer;
    return 0;
  }
  const std::size_t n = std::min(body.size, bytes.size());
  if (n > 0) std::memcpy(body.data, bytes.data(), n);
  body.data = static_cast<char*>(body.data) + n;
  body.size -= n;
  if (n == bytes.size()) {
    ec = {};
  } else {
    ec = http::error::need_buffer;
  }
  return n;
}

template class HttpParser<true>;
template class HttpParser<false>;

}  // namespace turnpike::proxy
