#include "proxy/http2/server_codec.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <utility>

namespace turnpike::proxy::http2 {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
static_assert(kPreface.size() == NGHTTP2_CLIENT_MAGIC_LEN);
constexpr size_t kFrameHeaderBytes = 9;  // RFC 9113 §4.1

// RFC 9113 §6.5.2: a field costs its name and value plus 32 bytes in SETTINGS_MAX_HEADER_LIST_SIZE.
constexpr size_t kFieldOverhead = 32;

char lowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

nghttp2_nv makeNv(std::string_view name, std::string_view value) {
  // nghttp2 copies the fields when a frame is submitted (no NGHTTP2_NV_FLAG_NO_COPY_*), and only
  // reads them: the casts do not let it write.
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// Whether a response field must not be sent: HTTP/2 forbids connection-specific fields and the
// ones the connection field names (RFC 9113 §8.2.2); pseudo-headers are the codec's to set.
bool forbiddenInResponse(const Header& h,
                         const std::vector<std::string_view>& named_by_connection) {
  if (h.name.empty() || h.name.front() == ':') return true;
  for (std::string_view name :
       {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
    if (equalsIgnoreCase(h.name, name)) return true;
  }
  if (equalsIgnoreCase(h.name, "te")) return !equalsIgnoreCase(trim(h.value), "trailers");
  return std::any_of(named_by_connection.begin(), named_by_connection.end(),
                     [&](std::string_view token) { return equalsIgnoreCase(h.name, token); });
}

// The response fields nghttp2 is given (it copies them and lower-cases the names).
void appendFields(const std::vector<Header>& headers, std::vector<nghttp2_nv>& nva) {
  std::vector<std::string_view> named_by_connection;
  for (const Header& h : headers) {
    if (!equalsIgnoreCase(h.name, "connection")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view token = trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (!token.empty()) named_by_connection.push_back(token);
    }
  }
  for (const Header& h : headers) {
    if (!forbiddenInResponse(h, named_by_connection)) nva.push_back(makeNv(h.name, h.value));
  }
}

std::vector<Header> filteredCopy(const std::vector<Header>& headers) {
  std::vector<nghttp2_nv> nva;
  appendFields(headers, nva);
  std::vector<Header> out;
  out.reserve(nva.size());
  for (const nghttp2_nv& nv : nva) {
    out.push_back({std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                   std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen)});
  }
  return out;
}

Limits clamped(Limits limits) {
  limits.stream_window_bytes = std::max<int32_t>(limits.stream_window_bytes, 1);
  limits.connection_window_bytes =
      std::max<int32_t>(limits.connection_window_bytes, NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE);
  limits.max_outbound_bytes_per_stream = std::max<size_t>(limits.max_outbound_bytes_per_stream, 1);
  limits.reset_burst = std::max<uint64_t>(limits.reset_burst, 1);
  return limits;
}

}  // namespace

Preface matchPreface(std::string_view first_bytes) {
  const size_t n = std::min(first_bytes.size(), kPreface.size());
  if (first_bytes.substr(0, n) != kPreface.substr(0, n)) return Preface::kNo;
  return n == kPreface.size() ? Preface::kYes : Preface::kNeedMore;
}

// The codec's view of one stream nghttp2 opened for a request. Created when the request's
// HEADERS begin, erased when nghttp2 closes the stream.
struct ServerCodec::Stream {
  // Request side.
  RequestHead head;                  // collected until the headers are complete
  std::vector<std::string> cookies;  // cookie crumbs, joined at the end of the headers
  std::string host;                  // the Host field, compared with :authority
  std::vector<Header> trailers;
  size_t header_list_bytes = 0;  // of the header block being received, as the peer counts it
  size_t collected_bytes = 0;    // of that counted in ServerCodec::header_bytes_total_
  bool oversized = false;        // the header block went over Limits::max_header_list_bytes
  bool in_trailers = false;
  bool announced = false;  // onRequest() was called
  size_t unconsumed = 0;   // request body handed to the Handler, not yet consumed()
  // Response side.
  bool final_response = false;  // a final (non-1xx) response was submitted
  bool body_open = false;       // the response has a body the data callback reads
  bool body_ended = false;      // the last byte (or the trailers) has been queued
  bool deferred = false;        // the data callback returned NGHTTP2_ERR_DEFERRED
  bool wants_space = false;     // sendData() reported a full queue: onOutputSpace() is due
  bool resetting = false;       // a RST_STREAM is submitted: no more response, data discarded
  bool self_reset = false;      // reset for the server's own reasons, not counted against the peer
  std::deque<std::string> chunks;  // queued body; the front one is read from `offset`
  size_t offset = 0;
  size_t queued = 0;
  std::vector<Header> trailers_out;
};

struct ServerCodec::Memory {
  nghttp2_mem functions;
  size_t in_use = 0;
};

// nghttp2's callbacks: `user_data` is the codec (the allocator's is the Memory).
struct ServerCodec::Callbacks {
  static ServerCodec& codec(void* user_data) { return *static_cast<ServerCodec*>(user_data); }

  // The counting allocator behind memoryInUse(): each block carries its size in front.
  static constexpr size_t kPrefix = alignof(std::max_align_t);
  static void* allocate(size_t size, void* user_data) {
    if (size > std::numeric_limits<size_t>::max() - kPrefix) return nullptr;
    auto* base = static_cast<unsigned char*>(std::malloc(size + kPrefix));
    if (base == nullptr) return nullptr;
    std::memcpy(base, &size, sizeof size);
    static_cast<Memory*>(user_data)->in_use += size;
    return base + kPrefix;
  }
  static void release(void* ptr, void* user_data) {
    if (ptr == nullptr) return;
    unsigned char* base = static_cast<unsigned char*>(ptr) - kPrefix;
    size_t size;
    std::memcpy(&size, base, sizeof size);
    static_cast<Memory*>(user_data)->in_use -= size;
    std::free(base);
  }
  static void* allocateZeroed(size_t count, size_t size, void* user_data) {
    if (size != 0 && count > std::numeric_limits<size_t>::max() / size) return nullptr;
    void* p = allocate(count * size, user_data);
    if (p != nullptr) std::memset(p, 0, count * size);
    return p;
  }
  static void* reallocate(void* ptr, size_t size, void* user_data) {
    if (ptr == nullptr) return allocate(size, user_data);
    if (size > std::numeric_limits<size_t>::max() - kPrefix) return nullptr;
    unsigned char* base = static_cast<unsigned char*>(ptr) - kPrefix;
    size_t old_size;
    std::memcpy(&old_size, base, sizeof old_size);
    auto* grown = static_cast<unsigned char*>(std::realloc(base, size + kPrefix));
    if (grown == nullptr) return nullptr;
    std::memcpy(grown, &size, sizeof size);
    auto* memory = static_cast<Memory*>(user_data);
    memory->in_use = memory->in_use - old_size + size;
    return grown + kPrefix;
  }

  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    ServerCodec& c = codec(user_data);
    const int32_t id = frame->hd.stream_id;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      auto stream = std::make_unique<Stream>();
      stream->head.stream_id = id;
      c.streams_[id] = std::move(stream);
    } else if (Stream* s = c.find(id)) {
      // Trailers: a header block of their own for the size limit.
      s->in_trailers = true;
      s->oversized = false;
      s->header_list_bytes = 0;
    }
    return 0;
  }

  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name_data,
                      size_t name_size, const uint8_t* value_data, size_t value_size, uint8_t,
                      void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    ServerCodec& c = codec(user_data);
    Stream* s = c.find(frame->hd.stream_id);
    if (s == nullptr || (s->in_trailers && (!s->announced || s->resetting))) return 0;
    const std::string_view name(reinterpret_cast<const char*>(name_data), name_size);
    const std::string_view value(reinterpret_cast<const char*>(value_data), value_size);
    const size_t cost = name_size + value_size + kFieldOverhead;
    s->header_list_bytes += cost;
    if (s->oversized) return 0;
    if (s->header_list_bytes > c.limits_.max_header_list_bytes) {
      // Keep decoding (HPACK state must follow the peer's) but keep nothing.
      s->oversized = true;
      c.header_bytes_total_ -= s->collected_bytes;
      s->collected_bytes = 0;
      s->head.headers = {};
      s->cookies = {};
      s->trailers = {};
      return 0;
    }
    s->collected_bytes += cost;
    c.header_bytes_total_ += cost;
    if (s->in_trailers) {
      s->trailers.push_back({std::string(name), std::string(value)});
      return 0;
    }
    // nghttp2 has checked the fields: known pseudo-headers, each at most once, before the rest.
    if (name == ":method") {
      s->head.method = value;
    } else if (name == ":scheme") {
      s->head.scheme = value;
    } else if (name == ":authority") {
      s->head.authority = value;
    } else if (name == ":path") {
      s->head.path = value;
    } else if (name == "cookie") {
      s->cookies.emplace_back(value);
      if (s->cookies.size() == 1) s->head.headers.push_back({std::string(name), {}});
    } else {
      if (name == "host") s->host = value;
      s->head.headers.push_back({std::string(name), std::string(value)});
    }
    return 0;
  }

  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    ServerCodec& c = codec(user_data);
    const int32_t id = frame->hd.stream_id;
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS) {
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        c.finishRequestHeaders(id, end_stream);
        return 0;
      }
      Stream* s = c.find(id);
      if (s == nullptr || !s->announced || s->resetting) return 0;
      if (s->oversized) {
        s->resetting = true;
        nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_ENHANCE_YOUR_CALM);
        return 0;
      }
      c.header_bytes_total_ -= s->collected_bytes;
      s->collected_bytes = 0;
      std::vector<Header> trailers = std::move(s->trailers);
      c.handler_.onRequestTrailers(id, std::move(trailers));
      s = c.find(id);
      if (s != nullptr && !s->resetting) c.handler_.onRequestEnd(id);
      return 0;
    }
    if (frame->hd.type == NGHTTP2_DATA && end_stream) {
      Stream* s = c.find(id);
      if (s != nullptr && s->announced && !s->resetting) c.handler_.onRequestEnd(id);
    }
    return 0;
  }

  static int onDataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                         size_t size, void* user_data) {
    ServerCodec& c = codec(user_data);
    Stream* s = c.find(stream_id);
    if (s == nullptr || !s->announced || s->resetting) {
      // No one reads it: give the connection window back now. (The stream's own window does
      // not matter, the stream is going away.)
      c.deferred_connection_consumed_ += size;
      return 0;
    }
    s->unconsumed += size;
    c.handler_.onRequestData(stream_id, {reinterpret_cast<const char*>(data), size});
    return 0;
  }

  static int onStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                           void* user_data) {
    ServerCodec& c = codec(user_data);
    auto it = c.streams_.find(stream_id);
    if (it == c.streams_.end()) return 0;
    const Stream& s = *it->second;
    c.deferred_connection_consumed_ += s.unconsumed;
    c.queued_total_ -= s.queued;
    c.header_bytes_total_ -= s.collected_bytes;
    const bool announced = s.announced;
    c.streams_.erase(it);
    if (!announced) return 0;
    --c.announced_streams_;
    if (c.in_send_) {
      c.closed_during_send_.emplace_back(stream_id, error_code);
    } else {
      c.handler_.onStreamClosed(stream_id, error_code);
    }
    return 0;
  }

  static int onFrameSend(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    ServerCodec& c = codec(user_data);
    const int32_t id = frame->hd.stream_id;
    switch (frame->hd.type) {
      case NGHTTP2_RST_STREAM: {
        const Stream* s = c.find(id);
        if (s != nullptr && s->announced && !s->self_reset &&
            frame->rst_stream.error_code != NGHTTP2_NO_ERROR) {
          c.countServerReset();
        }
        break;
      }
      case NGHTTP2_HEADERS:
      case NGHTTP2_DATA:
        // The response is complete while the request is not: ask the peer to stop sending it
        // (RFC 9113 §8.1), which also closes the stream instead of waiting for a body no one
        // reads.
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 && c.find(id) != nullptr &&
            nghttp2_session_get_stream_remote_close(session, id) == 0) {
          nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
        }
        break;
      default:
        break;
    }
    return 0;
  }

  // A response's HEADERS (or trailers) that nghttp2 could not make, e.g. a header block over
  // the 64 KiB it sends: nghttp2 drops the frame and leaves the stream open; reset it, so that
  // the peer is not left waiting and the Handler hears the stream is gone.
  static int onFrameNotSend(nghttp2_session* session, const nghttp2_frame* frame, int,
                            void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Stream* s = codec(user_data).find(frame->hd.stream_id);
    if (s == nullptr || s->resetting) return 0;
    s->resetting = true;
    s->self_reset = true;
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                              NGHTTP2_INTERNAL_ERROR);
    return 0;
  }

  static ssize_t readBody(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source*, void* user_data) {
    ServerCodec& c = codec(user_data);
    Stream* s = c.find(stream_id);
    if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (s->resetting) {
      // Its RST_STREAM goes out first and drops this DATA item with the stream.
      s->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = 0;
    while (n < length && !s->chunks.empty()) {
      const std::string& front = s->chunks.front();
      const size_t take = std::min(length - n, front.size() - s->offset);
      std::memcpy(buf + n, front.data() + s->offset, take);
      n += take;
      s->offset += take;
      if (s->offset == front.size()) {
        s->chunks.pop_front();
        s->offset = 0;
      }
    }
    s->queued -= n;
    c.queued_total_ -= n;
    if (s->chunks.empty()) {
      if (s->body_ended) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        if (!s->trailers_out.empty()) {
          *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
          std::vector<nghttp2_nv> nva;
          nva.reserve(s->trailers_out.size());
          for (const Header& h : s->trailers_out) nva.push_back(makeNv(h.name, h.value));
          if (nghttp2_submit_trailer(session, stream_id, nva.data(), nva.size()) != 0) {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
          }
          s->trailers_out = {};
        }
      } else if (n == 0) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    if (s->wants_space && s->queued < c.limits_.max_outbound_bytes_per_stream) {
      s->wants_space = false;
      c.space_during_send_.push_back(stream_id);
    }
    return static_cast<ssize_t>(n);
  }
};

ServerCodec::ServerCodec(Handler& handler, const Limits& limits)
    : handler_(handler), limits_(clamped(limits)), memory_(std::make_unique<Memory>()) {
  memory_->functions = {memory_.get(), &Callbacks::allocate, &Callbacks::release,
                        &Callbacks::allocateZeroed, &Callbacks::reallocate};
  reset_tokens_ = static_cast<double>(limits_.reset_burst);
  reset_refilled_ = std::chrono::steady_clock::now();

  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_option* option = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0 || nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    failed_ = broken_ = true;
    return;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &Callbacks::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &Callbacks::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &Callbacks::onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &Callbacks::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &Callbacks::onStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, &Callbacks::onFrameSend);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks, &Callbacks::onFrameNotSend);

  // Request bodies reopen the windows only through consumed().
  nghttp2_option_set_no_auto_window_update(option, 1);
  // Closed streams are not kept for the RFC 7540 priority tree (which SETTINGS below turns off).
  nghttp2_option_set_no_closed_streams(option, 1);
  nghttp2_option_set_stream_reset_rate_limit(option, limits_.reset_burst, limits_.reset_rate_per_s);
  nghttp2_option_set_max_continuations(option, limits_.max_continuations);
  nghttp2_option_set_max_outbound_ack(option, limits_.max_outbound_ack);
  nghttp2_option_set_max_settings(option, limits_.max_settings);

  const int made =
      nghttp2_session_server_new3(&session_, callbacks, this, option, &memory_->functions);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_option_del(option);
  if (made != 0) {
    session_ = nullptr;
    failed_ = broken_ = true;
    return;
  }

  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(limits_.stream_window_bytes)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list_bytes},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0 ||
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                            limits_.connection_window_bytes) != 0) {
    failed_ = broken_ = true;
  }
}

ServerCodec::~ServerCodec() {
  // nghttp2_session_del calls no callbacks; the streams go with the map.
  if (session_ != nullptr) nghttp2_session_del(session_);
}

ServerCodec::Stream* ServerCodec::find(int32_t stream) {
  auto it = streams_.find(stream);
  return it == streams_.end() ? nullptr : it->second.get();
}

const ServerCodec::Stream* ServerCodec::find(int32_t stream) const {
  auto it = streams_.find(stream);
  return it == streams_.end() ? nullptr : it->second.get();
}

size_t ServerCodec::wholeFrameHeaders(std::string_view bytes) {
  size_t i = 0;
  const size_t preface = std::min(preface_left_, bytes.size());
  preface_left_ -= preface;
  i += preface;
  while (i < bytes.size()) {
    if (payload_left_ > 0) {
      const size_t skip = std::min(payload_left_, bytes.size() - i);
      payload_left_ -= skip;
      i += skip;
      continue;
    }
    if (bytes.size() - i < kFrameHeaderBytes) break;
    payload_left_ = (size_t{static_cast<uint8_t>(bytes[i])} << 16) |
                    (size_t{static_cast<uint8_t>(bytes[i + 1])} << 8) |
                    static_cast<uint8_t>(bytes[i + 2]);
    i += kFrameHeaderBytes;
  }
  return i;
}

bool ServerCodec::receive(std::string_view bytes) {
  if (failed_ || in_send_) return false;
  // nghttp2 (1.52 with Debian's CVE-2024-28182 backport, as upstream) counts an expected
  // CONTINUATION once per mem_recv call that starts before its frame header is whole, so that a
  // legitimate header block read in small pieces could pass Limits::max_continuations. A frame
  // header cut by the end of `bytes` is therefore kept back (at most 8 bytes) and given with the
  // next bytes, and nghttp2 is never called with nothing.
  std::string joined;
  if (!held_header_.empty()) {
    joined = std::move(held_header_);
    joined.append(bytes);
    bytes = joined;
  }
  const size_t whole = wholeFrameHeaders(bytes);
  held_header_.assign(bytes.substr(whole));
  if (whole == 0) return true;
  const ssize_t read =
      nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(bytes.data()), whole);
  flushDeferredConsumption();
  if (read >= 0) return true;
  switch (read) {
    case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
      fail(NGHTTP2_PROTOCOL_ERROR);
      break;
    case NGHTTP2_ERR_FLOODED:
    case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
      fail(NGHTTP2_ENHANCE_YOUR_CALM);
      break;
    default:
      fail(NGHTTP2_INTERNAL_ERROR);
      break;
  }
  return false;
}

void ServerCodec::fail(uint32_t error_code) {
  failed_ = true;
  // GOAWAY with the last stream id processed; nghttp2 sends nothing after it.
  if (nghttp2_session_terminate_session(session_, error_code) != 0) broken_ = true;
}

void ServerCodec::takeOutput(std::string& out, size_t max_bytes) {
  if (broken_ || in_send_) return;
  in_send_ = true;
  const size_t start = out.size();
  for (;;) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      failed_ = broken_ = true;
      break;
    }
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    if (out.size() - start >= max_bytes) break;
  }
  in_send_ = false;
  flushDeferredConsumption();

  // Tell the Handler now that nghttp2 is out of mem_send: it may queue more in reply.
  std::vector<std::pair<int32_t, uint32_t>> closed;
  std::vector<int32_t> space;
  closed.swap(closed_during_send_);
  space.swap(space_during_send_);
  for (const auto& [stream, error_code] : closed) handler_.onStreamClosed(stream, error_code);
  for (int32_t stream : space) {
    if (find(stream) != nullptr) handler_.onOutputSpace(stream);
  }
}

bool ServerCodec::wantsRead() const { return !failed_ && nghttp2_session_want_read(session_) != 0; }

bool ServerCodec::wantsWrite() const {
  return !broken_ && nghttp2_session_want_write(session_) != 0;
}

void ServerCodec::finishRequestHeaders(int32_t stream_id, bool end_stream) {
  Stream* s = find(stream_id);
  if (s == nullptr) return;
  header_bytes_total_ -= s->collected_bytes;
  s->collected_bytes = 0;
  if (s->oversized) {
    answerTooLarge(stream_id);
    return;
  }
  RequestHead& head = s->head;
  if (!s->host.empty()) {
    if (head.authority.empty()) {
      head.authority = s->host;
    } else if (!equalsIgnoreCase(head.authority, s->host)) {
      // RFC 9113 §8.3.1: a Host naming another origin than :authority makes the request
      // malformed; routing by one while the upstream sees the other must not happen.
      s->resetting = true;
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_PROTOCOL_ERROR);
      return;
    }
  }
  if (!s->cookies.empty()) {
    std::string joined;
    for (const std::string& crumb : s->cookies) {
      if (!joined.empty()) joined += "; ";
      joined += crumb;
    }
    for (Header& h : head.headers) {
      if (h.name == "cookie") {
        h.value = std::move(joined);
        break;
      }
    }
    s->cookies = {};
  }
  head.end_stream = end_stream;
  s->announced = true;
  ++announced_streams_;
  handler_.onRequest(std::move(head));
  if (!end_stream) return;
  s = find(stream_id);
  if (s != nullptr && !s->resetting) handler_.onRequestEnd(stream_id);
}

void ServerCodec::answerTooLarge(int32_t stream_id) {
  // 431 is what a client can read and show (RFC 6585 §5, RFC 9113 §10.5.1); a stream error
  // would only say the stream failed.
  Stream* s = find(stream_id);
  s->final_response = true;
  s->body_ended = true;
  const nghttp2_nv status = makeNv(":status", "431");
  nghttp2_submit_response(session_, stream_id, &status, 1, nullptr);
}

void ServerCodec::countServerReset() {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - reset_refilled_).count();
  reset_refilled_ = now;
  reset_tokens_ = std::min(static_cast<double>(limits_.reset_burst),
                           reset_tokens_ + elapsed * static_cast<double>(limits_.reset_rate_per_s));
  if (reset_tokens_ >= 1) {
    reset_tokens_ -= 1;
    return;
  }
  if (reset_goaway_) return;
  reset_goaway_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_ENHANCE_YOUR_CALM, nullptr, 0);
}

void ServerCodec::flushDeferredConsumption() {
  if (deferred_connection_consumed_ == 0 || broken_) return;
  nghttp2_session_consume_connection(session_, deferred_connection_consumed_);
  deferred_connection_consumed_ = 0;
}

bool ServerCodec::respond(int32_t stream, int status, const std::vector<Header>& headers,
                          bool end_stream) {
  Stream* s = find(stream);
  if (s == nullptr || !s->announced || s->resetting || s->final_response || failed_) return false;
  if (status < 100 || status > 999 || status == 101) return false;
  char digits[4];
  digits[0] = static_cast<char>('0' + status / 100);
  digits[1] = static_cast<char>('0' + status / 10 % 10);
  digits[2] = static_cast<char>('0' + status % 10);
  digits[3] = '\0';
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size() + 1);
  nva.push_back(makeNv(":status", std::string_view(digits, 3)));
  appendFields(headers, nva);
  if (status < 200) {
    return nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, stream, nullptr, nva.data(),
                                  nva.size(), nullptr) >= 0;
  }
  nghttp2_data_provider body{};
  body.read_callback = &Callbacks::readBody;
  if (nghttp2_submit_response(session_, stream, nva.data(), nva.size(),
                              end_stream ? nullptr : &body) != 0) {
    return false;
  }
  s->final_response = true;
  s->body_open = !end_stream;
  s->body_ended = end_stream;
  return true;
}

SendResult ServerCodec::sendData(int32_t stream, std::string_view data, bool end_stream) {
  Stream* s = find(stream);
  if (s == nullptr || !s->body_open || s->body_ended || s->resetting) return SendResult::kClosed;
  const size_t limit = limits_.max_outbound_bytes_per_stream;
  if (s->queued >= limit) {
    s->wants_space = true;
    return SendResult::kFull;
  }
  if (!data.empty()) {
    s->chunks.emplace_back(data);
    s->queued += data.size();
    queued_total_ += data.size();
  }
  s->body_ended = end_stream;
  if (s->deferred && (!data.empty() || end_stream)) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, stream);
  }
  if (s->queued >= limit) {
    s->wants_space = true;
    return SendResult::kQueuedFull;
  }
  return SendResult::kQueued;
}

bool ServerCodec::sendTrailers(int32_t stream, const std::vector<Header>& trailers) {
  Stream* s = find(stream);
  if (s == nullptr || !s->body_open || s->body_ended || s->resetting) return false;
  s->trailers_out = filteredCopy(trailers);
  s->body_ended = true;
  if (s->deferred) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, stream);
  }
  return true;
}

size_t ServerCodec::queuedBytes(int32_t stream) const {
  const Stream* s = find(stream);
  return s == nullptr ? 0 : s->queued;
}

void ServerCodec::resetStream(int32_t stream, uint32_t error_code) {
  Stream* s = find(stream);
  if (s == nullptr || !s->announced || s->resetting) return;
  s->resetting = true;
  s->self_reset = true;
  s->body_ended = true;
  s->wants_space = false;
  queued_total_ -= s->queued;
  s->queued = 0;
  s->chunks.clear();
  s->offset = 0;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, error_code);
}

void ServerCodec::consumed(int32_t stream, size_t bytes) {
  Stream* s = find(stream);
  if (s == nullptr || broken_) return;
  const size_t n = std::min(bytes, s->unconsumed);
  if (n == 0) return;
  s->unconsumed -= n;
  nghttp2_session_consume(session_, stream, n);
}

void ServerCodec::goAway() {
  if (failed_ || goaway_) return;
  goaway_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

size_t ServerCodec::openStreams() const { return announced_streams_; }

size_t ServerCodec::memoryInUse() const {
  return memory_->in_use + queued_total_ + header_bytes_total_;
}

}  // namespace turnpike::proxy::http2
