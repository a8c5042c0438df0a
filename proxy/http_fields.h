// Fields, ParsedMessage and HttpParser: the messages the proxy parses, kept as received text.
//
//   HttpParser<true> parser;                         // Beast's basic_parser underneath
//   co_await readHttp(socket, buffer, parser, ReadGoal::kHeader);
//   const ParsedMessage<true>& request = parser.get();
//   for (const auto& field : request.fields()) use(field.name(), field.value());
//   appendUpstreamRequestHead(request.fields(), head, out);
//   ...
//   // the next message on the connection reuses the memory of this one:
//   std::optional<HttpParser<true>> slot; recycleParser(slot);
//
// Why not http::parser<..., basic_fields>: basic_fields allocates every field on its own and
// links it into a list and a tree of case-insensitive comparisons, then frees it all with the
// message; that was about 1,800 instructions of a proxied request, more than the proxy's own work
// on it. Here every field is appended as the line "name: value\r\n" to one buffer and indexed in
// one vector, both kept from message to message: no allocation once they have grown, and a
// received line is forwarded with a single copy. Lookups are linear scans, which beat a tree for a
// message's dozen fields. Beast still does all the parsing (basic_parser): what it accepts and
// refuses is unchanged.
//
// THREAD: one thread's (the socket's). OWNERSHIP: every view a Fields or a ParsedMessage hands
// out points into its own storage and stays valid until it is changed (insert, set, erase,
// clear) or destroyed.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace turnpike::proxy {

// The header fields of one message in the order received (or inserted). Names keep their case
// and compare ASCII case-insensitively; a field that occurs several times is several entries.
class Fields {
  struct Entry {
    uint32_t offset;     // of the line in the text
    uint32_t size;       // of the line, CRLF included
    uint32_t name_size;  // the name's; the value starts after ": "
    boost::beast::http::field name;
  };

 public:
  // One field, by value: views into the Fields it came from.
  class Field {
   public:
    // Beast's enum for the name; http::field::unknown for a name Beast does not know.
    boost::beast::http::field name() const { return entry_->name; }
    std::string_view name_string() const { return {line_, entry_->name_size}; }
    std::string_view value() const {
      return {line_ + entry_->name_size + 2, entry_->size - entry_->name_size - 4};
    }
    // "name: value\r\n", as forwarded.
    std::string_view line() const { return {line_, entry_->size}; }

   private:
    friend class Fields;
    Field(const char* text, const Entry* entry) : line_(text + entry->offset), entry_(entry) {}
    const char* line_;
    const Entry* entry_;
  };

  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Field;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Field;

    Iterator() = default;
    Field operator*() const { return Field(text_, entry_); }
    Iterator& operator++() {
      ++entry_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      ++entry_;
      return old;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) { return a.entry_ == b.entry_; }

   private:
    friend class Fields;
    Iterator(const char* text, const Entry* entry) : text_(text), entry_(entry) {}
    const char* text_ = nullptr;
    const Entry* entry_ = nullptr;
  };

  Fields() = default;
  Fields(const Fields& other) { *this = other; }
  Fields& operator=(const Fields& other);
  Fields(Fields&& other) noexcept { *this = std::move(other); }
  Fields& operator=(Fields&& other) noexcept {  // leaves `other` empty, without memory
    text_ = std::move(other.text_);
    used_ = std::exchange(other.used_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    entries_ = std::move(other.entries_);
    other.entries_.clear();
    return *this;
  }

  // Appends a field. The name as given (its enum is looked up when not given); the value as
  // given: the caller (Beast's parser, or a caller writing a message) has checked both.
  void insert(boost::beast::http::field name, std::string_view name_string, std::string_view value);
  void insert(std::string_view name, std::string_view value);
  void insert(boost::beast::http::field name, std::string_view value);
  // Replaces every field of that name with one (appended at the end).
  void set(std::string_view name, std::string_view value);
  void set(boost::beast::http::field name, std::string_view value);
  // Removes every field of that name; returns how many there were.
  std::size_t erase(std::string_view name);
  // Forgets every field and keeps the memory.
  void clear() {
    used_ = 0;
    entries_.clear();
  }

  // The value of the first field of that name; "" when there is none.
  std::string_view operator[](std::string_view name) const;
  std::string_view operator[](boost::beast::http::field name) const;
  std::size_t count(std::string_view name) const;
  std::size_t count(boost::beast::http::field name) const;

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  Field at(std::size_t index) const { return Field(text_.get(), &entries_.at(index)); }
  Iterator begin() const { return {text_.get(), entries_.data()}; }
  Iterator end() const { return {text_.get(), entries_.data() + entries_.size()}; }

 private:
  bool matches(const Entry& e, std::string_view name) const;
  // Room for `size` more bytes at text_ + used_.
  char* room(std::size_t size) {
    return capacity_ - used_ >= size ? text_.get() + used_ : grow(size);
  }
  char* grow(std::size_t size);  // room(), when the text must move to a larger buffer

  // The fields' lines, back to back: a plain buffer rather than a std::string, whose resize()
  // would first fill what is about to be copied over.
  std::unique_ptr<char[]> text_;
  std::size_t used_ = 0;
  std::size_t capacity_ = 0;
  std::vector<Entry> entries_;
};

// A message's start line, fields and (streamed) body, as HttpParser fills them in.
template <bool isRequest>
class ParsedMessage {
 public:
  using Body = boost::beast::http::buffer_body::value_type;

  // Requests.
  boost::beast::http::verb method() const { return method_; }
  std::string_view method_string() const { return std::string_view(start_).substr(0, split_); }
  std::string_view target() const { return std::string_view(start_).substr(split_); }
  // Responses.
  unsigned result_int() const { return status_; }
  std::string_view reason() const { return start_; }
  // Both: 10 for HTTP/1.0, 11 for HTTP/1.1.
  unsigned version() const { return version_; }

  const Fields& fields() const { return fields_; }
  Fields& fields() { return fields_; }
  std::string_view operator[](boost::beast::http::field name) const { return fields_[name]; }
  std::string_view operator[](std::string_view name) const { return fields_[name]; }

  // Where the parser copies the next body bytes (buffer_body's contract: `data`, `size` left,
  // `more`); a null `data` makes the parser stop with http::error::need_buffer.
  Body& body() { return body_; }

  // Forgets the message and keeps the memory.
  void clear() {
    method_ = boost::beast::http::verb::unknown;
    start_.clear();
    split_ = 0;
    status_ = 0;
    version_ = 0;
    fields_.clear();
    body_ = {};
  }

 private:
  template <bool>
  friend class HttpParser;

  boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
  std::string start_;      // requests: the method, then the target; responses: the reason
  std::size_t split_ = 0;  // requests: where the target starts in start_
  unsigned status_ = 0;
  unsigned version_ = 0;
  Fields fields_;
  Body body_;
};

// Beast's HTTP/1 parser (limits, framing, chunked decoding, errors: all basic_parser's), filling
// a ParsedMessage. One parser reads one message; recycleParser() starts the next one in the same
// memory.
template <bool isRequest>
class HttpParser : public boost::beast::http::basic_parser<isRequest> {
 public:
  HttpParser() = default;
  // Reads into `recycled`'s memory (it is cleared first).
  explicit HttpParser(ParsedMessage<isRequest>&& recycled) : message_(std::move(recycled)) {
    message_.clear();
  }

  ParsedMessage<isRequest>& get() { return message_; }
  const ParsedMessage<isRequest>& get() const { return message_; }
  // The message, moved out (to hand its memory to the next parser).
  ParsedMessage<isRequest> release() { return std::move(message_); }

 private:
  using error_code = boost::system::error_code;
  using string_view = boost::beast::string_view;

  static std::string_view view(string_view s) { return {s.data(), s.size()}; }

  void on_request_impl(boost::beast::http::verb method, string_view method_string,
                       string_view target, int version, error_code& ec) override {
    message_.method_ = method;
    message_.start_.assign(method_string.data(), method_string.size());
    message_.split_ = method_string.size();
    message_.start_.append(target.data(), target.size());
    message_.version_ = static_cast<unsigned>(version);
    ec = {};
  }
  void on_response_impl(int status, string_view reason, int version, error_code& ec) override {
    message_.status_ = static_cast<unsigned>(status);
    message_.start_.assign(reason.data(), reason.size());
    message_.version_ = static_cast<unsigned>(version);
    ec = {};
  }
  void on_field_impl(boost::beast::http::field name, string_view name_string, string_view value,
                     error_code& ec) override {
    message_.fields_.insert(name, view(name_string), view(value));
    ec = {};
  }
  void on_header_impl(error_code& ec) override { ec = {}; }
  void on_body_init_impl(const boost::optional<std::uint64_t>& /*length*/,
                         error_code& ec) override {
    ec = {};
  }
  std::size_t on_body_impl(string_view body, error_code& ec) override { return copyBody(body, ec); }
  void on_chunk_header_impl(std::uint64_t /*size*/, string_view /*extensions*/,
                            error_code& ec) override {
    ec = {};
  }
  std::size_t on_chunk_body_impl(std::uint64_t /*remain*/, string_view body,
                                 error_code& ec) override {
    return copyBody(body, ec);
  }
  void on_finish_impl(error_code& ec) override { ec = {}; }

  // buffer_body's reader: as much as fits, need_buffer when it did not all fit.
  std::size_t copyBody(string_view bytes, error_code& ec);

  ParsedMessage<isRequest> message_;
};

// The parser in `slot` replaced by a fresh one that reuses the memory of its message (or a new
// one when `slot` is empty); returns it.
template <bool isRequest>
HttpParser<isRequest>& recycleParser(std::optional<HttpParser<isRequest>>& slot) {
  if (!slot) return slot.emplace();
  return slot.emplace(slot->release());
}

extern template class HttpParser<true>;
extern template class HttpParser<false>;

}  // namespace turnpike::proxy
