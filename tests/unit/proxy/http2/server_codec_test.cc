#include "proxy/http2/server_codec.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace turnpike::proxy::http2 {
namespace {

// ---- The client: an nghttp2 client session in memory. ----

struct ClientStream {
  std::vector<int> informational;  // 1xx statuses, in order
  int status = 0;
  std::vector<Header> headers;  // of the final response, without :status
  std::string body;
  std::vector<Header> trailers;
  bool ended = false;  // END_STREAM received
  bool reset = false;  // RST_STREAM received
  uint32_t reset_code = 0;
  bool closed = false;
  uint32_t close_code = 0;
  // The request body this client sends: `to_send` from `sent`, then `send_trailers` if any.
  std::string to_send;
  size_t sent = 0;
  std::vector<Header> send_trailers;
  std::vector<Header> block;  // header block being received
};

struct ClientOptions {
  int32_t initial_window = NGHTTP2_INITIAL_WINDOW_SIZE;  // its SETTINGS_INITIAL_WINDOW_SIZE
  bool auto_window_update = true;  // false: its windows reopen only through consume()
  size_t max_send_header_block = 64 * 1024;
};

class TestClient {
 public:
  explicit TestClient(ClientOptions options) {
    nghttp2_session_callbacks* callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &onHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &onFrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &onData);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &onClose);
    nghttp2_option* option;
    nghttp2_option_new(&option);
    nghttp2_option_set_no_auto_window_update(option, options.auto_window_update ? 0 : 1);
    nghttp2_option_set_max_send_header_block_length(option, options.max_send_header_block);
    // Before the server's SETTINGS arrive, send as many streams as asked (nghttp2's own default
    // stops at 100), as a client that does not wait for them may.
    nghttp2_option_set_peer_max_concurrent_streams(option, 1u << 30);
    nghttp2_session_client_new2(&session_, callbacks, this, option);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_option_del(option);
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(options.initial_window)},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
  }
  ~TestClient() { nghttp2_session_del(session_); }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // Submits a request with these fields (pseudo-headers included, as given); a body when
  // `body` is set, ended by trailers when there are some. Returns the stream id.
  int32_t request(const std::vector<Header>& fields, std::optional<std::string> body = {},
                  std::vector<Header> trailers = {}) {
    std::vector<nghttp2_nv> nva = toNva(fields);
    nghttp2_data_provider provider{};
    provider.read_callback = &readBody;
    const int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                              body ? &provider : nullptr, nullptr);
    EXPECT_GT(id, 0);
    if (body) {
      streams[id].to_send = std::move(*body);
      streams[id].send_trailers = std::move(trailers);
    }
    return id;
  }

  int32_t get(const std::string& path = "/", std::vector<Header> extra = {}) {
    std::vector<Header> fields = {
        {":method", "GET"}, {":scheme", "https"}, {":authority", "api.example"}, {":path", path}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    return request(fields);
  }

  int32_t post(const std::string& path, std::string body, std::vector<Header> trailers = {},
               std::vector<Header> extra = {}) {
    std::vector<Header> fields = {
        {":method", "POST"}, {":scheme", "https"}, {":authority", "api.example"}, {":path", path}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    return request(fields, std::move(body), std::move(trailers));
  }

  void reset(int32_t stream, uint32_t code) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, code);
  }

  // The stream's and the connection's windows reopen by `bytes` (with auto_window_update off).
  void consume(int32_t stream, size_t bytes) { nghttp2_session_consume(session_, stream, bytes); }

  // Everything the client has to send now.
  std::string output() {
    std::string out;
    for (;;) {
      const uint8_t* data;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      EXPECT_GE(n, 0) << nghttp2_strerror(static_cast<int>(n));
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    return out;
  }

  void input(std::string_view bytes) {
    const ssize_t n = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    EXPECT_EQ(n, static_cast<ssize_t>(bytes.size())) << nghttp2_strerror(static_cast<int>(n));
  }

  uint32_t remoteSetting(nghttp2_settings_id id) {
    return nghttp2_session_get_remote_settings(session_, id);
  }

  std::map<int32_t, ClientStream> streams;
  std::vector<std::pair<int32_t, uint32_t>> resets;  // RST_STREAM frames received
  bool goaway = false;
  uint32_t goaway_code = 0;
  int32_t goaway_last_stream = -1;
  size_t data_received = 0;

 private:
  static std::vector<nghttp2_nv> toNva(const std::vector<Header>& fields) {
    std::vector<nghttp2_nv> nva;
    for (const Header& h : fields) {
      nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(h.name.data())),
                     reinterpret_cast<uint8_t*>(const_cast<char*>(h.value.data())), h.name.size(),
                     h.value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    return nva;
  }

  static TestClient& self(void* user_data) { return *static_cast<TestClient*>(user_data); }

  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* ud) {
    self(ud).streams[frame->hd.stream_id].block.push_back(
        {std::string(reinterpret_cast<const char*>(name), namelen),
         std::string(reinterpret_cast<const char*>(value), valuelen)});
    return 0;
  }

  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
    TestClient& c = self(ud);
    const bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        ClientStream& s = c.streams[frame->hd.stream_id];
        std::vector<Header> block = std::move(s.block);
        s.block.clear();
        if (!block.empty() && block.front().name == ":status") {
          const int status = std::stoi(block.front().value);
          block.erase(block.begin());
          if (status < 200) {
            s.informational.push_back(status);
          } else {
            s.status = status;
            s.headers = std::move(block);
          }
        } else {
          s.trailers = std::move(block);
        }
        if (end) s.ended = true;
        break;
      }
      case NGHTTP2_DATA:
        if (end) c.streams[frame->hd.stream_id].ended = true;
        break;
      case NGHTTP2_RST_STREAM:
        c.resets.emplace_back(frame->hd.stream_id, frame->rst_stream.error_code);
        c.streams[frame->hd.stream_id].reset = true;
        c.streams[frame->hd.stream_id].reset_code = frame->rst_stream.error_code;
        break;
      case NGHTTP2_GOAWAY:
        c.goaway = true;
        c.goaway_code = frame->goaway.error_code;
        c.goaway_last_stream = frame->goaway.last_stream_id;
        break;
      default:
        break;
    }
    return 0;
  }

  static int onData(nghttp2_session*, uint8_t, int32_t stream, const uint8_t* data, size_t len,
                    void* ud) {
    self(ud).streams[stream].body.append(reinterpret_cast<const char*>(data), len);
    self(ud).data_received += len;
    return 0;
  }

  static int onClose(nghttp2_session*, int32_t stream, uint32_t code, void* ud) {
    ClientStream& s = self(ud).streams[stream];
    s.closed = true;
    s.close_code = code;
    return 0;
  }

  static ssize_t readBody(nghttp2_session* session, int32_t stream, uint8_t* buf, size_t length,
                          uint32_t* flags, nghttp2_data_source*, void* ud) {
    ClientStream& s = self(ud).streams[stream];
    const size_t n = std::min(length, s.to_send.size() - s.sent);
    std::copy_n(s.to_send.data() + s.sent, n, buf);
    s.sent += n;
    if (s.sent == s.to_send.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!s.send_trailers.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nva = toNva(s.send_trailers);
        nghttp2_submit_trailer(session, stream, nva.data(), nva.size());
      }
    }
    return static_cast<ssize_t>(n);
  }

  nghttp2_session* session_ = nullptr;
};

// ---- The server side: a Handler that records what it hears and answers as told. ----

class RecordingHandler : public ServerCodec::Handler {
 public:
  void onRequest(RequestHead head) override {
    log.push_back("request " + std::to_string(head.stream_id));
    requests.push_back(head);
    if (on_request) on_request(requests.back());
  }
  void onRequestData(int32_t stream, std::string_view data) override {
    bodies[stream].append(data);
    data_received += data.size();
    if (consume_at_once) codec->consumed(stream, data.size());
  }
  void onRequestTrailers(int32_t stream, std::vector<Header> t) override {
    log.push_back("trailers " + std::to_string(stream));
    trailers[stream] = std::move(t);
  }
  void onRequestEnd(int32_t stream) override {
    log.push_back("end " + std::to_string(stream));
    if (on_end) on_end(stream);
  }
  void onStreamClosed(int32_t stream, uint32_t error_code) override {
    log.push_back("closed " + std::to_string(stream) + " " + std::to_string(error_code));
    closed[stream] = error_code;
  }
  void onOutputSpace(int32_t stream) override {
    ++space_calls;
    if (on_space) on_space(stream);
  }

  const RequestHead* request(int32_t stream) const {
    for (const RequestHead& r : requests) {
      if (r.stream_id == stream) return &r;
    }
    return nullptr;
  }

  ServerCodec* codec = nullptr;
  bool consume_at_once = true;
  std::function<void(const RequestHead&)> on_request;
  std::function<void(int32_t)> on_end;
  std::function<void(int32_t)> on_space;
  std::vector<std::string> log;
  std::vector<RequestHead> requests;
  std::map<int32_t, std::string> bodies;
  std::map<int32_t, std::vector<Header>> trailers;
  std::map<int32_t, uint32_t> closed;
  size_t data_received = 0;
  size_t space_calls = 0;
};

// Sends a response body through sendData() as fast as the codec takes it: stops when the queue
// is full and goes on from onOutputSpace().
struct BodyPump {
  int32_t stream = 0;
  std::string body;
  size_t chunk = 16 * 1024;
  size_t next = 0;
  size_t max_queued = 0;  // the most the codec held queued for the stream after a sendData()

  void run(ServerCodec& codec) {
    while (next < body.size()) {
      const size_t n = std::min(chunk, body.size() - next);
      const SendResult r =
          codec.sendData(stream, std::string_view(body).substr(next, n), next + n == body.size());
      if (r == SendResult::kFull || r == SendResult::kClosed) return;
      next += n;
      max_queued = std::max(max_queued, codec.queuedBytes(stream));
      if (r == SendResult::kQueuedFull) return;
    }
  }
};

std::string pattern(size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

// Everything takeOutput() has now, however many calls it takes.
std::string drain(ServerCodec& codec) {
  std::string out;
  for (;;) {
    const size_t before = out.size();
    codec.takeOutput(out);
    if (out.size() == before) return out;
  }
}

// ---- Raw frames, for what a well-behaved client session would not send. ----

constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string rawFrame(uint8_t type, uint8_t flags, int32_t stream, std::string_view payload) {
  std::string f;
  const size_t len = payload.size();
  f.push_back(static_cast<char>(len >> 16));
  f.push_back(static_cast<char>(len >> 8));
  f.push_back(static_cast<char>(len));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  f.push_back(static_cast<char>((stream >> 24) & 0x7f));
  f.push_back(static_cast<char>(stream >> 16));
  f.push_back(static_cast<char>(stream >> 8));
  f.push_back(static_cast<char>(stream));
  f.append(payload);
  return f;
}

// HPACK integer with an n-bit prefix (RFC 7541 §5.1), first byte's high bits zero.
void hpackInteger(std::string& out, size_t value, int prefix_bits) {
  const size_t max_prefix = (size_t{1} << prefix_bits) - 1;
  if (value < max_prefix) {
    out.push_back(static_cast<char>(value));
    return;
  }
  out.push_back(static_cast<char>(max_prefix));
  value -= max_prefix;
  while (value >= 128) {
    out.push_back(static_cast<char>((value % 128) + 128));
    value /= 128;
  }
  out.push_back(static_cast<char>(value));
}

// A header block of literal fields without indexing (no state shared with the decoder).
std::string hpackBlock(const std::vector<Header>& fields) {
  std::string out;
  for (const Header& h : fields) {
    out.push_back('\0');
    hpackInteger(out, h.name.size(), 7);
    out += h.name;
    hpackInteger(out, h.value.size(), 7);
    out += h.value;
  }
  return out;
}

std::string getBlock(const std::string& path = "/") {
  return hpackBlock(
      {{":method", "GET"}, {":scheme", "https"}, {":authority", "api.example"}, {":path", path}});
}

struct RawFrame {
  uint8_t type = 0;
  uint8_t flags = 0;
  int32_t stream = 0;
  std::string payload;
};

std::vector<RawFrame> parseFrames(std::string_view bytes) {
  std::vector<RawFrame> frames;
  while (bytes.size() >= 9) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
    const size_t len = (size_t{byte(0)} << 16) | (size_t{byte(1)} << 8) | byte(2);
    if (bytes.size() < 9 + len) break;
    RawFrame f;
    f.type = byte(3);
    f.flags = byte(4);
    f.stream = static_cast<int32_t>(((uint32_t{byte(5)} & 0x7f) << 24) | (uint32_t{byte(6)} << 16) |
                                    (uint32_t{byte(7)} << 8) | byte(8));
    f.payload = std::string(bytes.substr(9, len));
    frames.push_back(std::move(f));
    bytes.remove_prefix(9 + len);
  }
  EXPECT_TRUE(bytes.empty()) << "a partial frame at the end of the output";
  return frames;
}

uint32_t be32(std::string_view s) {
  return (uint32_t{static_cast<uint8_t>(s[0])} << 24) |
         (uint32_t{static_cast<uint8_t>(s[1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[2])} << 8) | static_cast<uint8_t>(s[3]);
}

// The GOAWAY among `frames`: {last stream id, error code}, or nothing.
std::optional<std::pair<int32_t, uint32_t>> findGoaway(const std::vector<RawFrame>& frames) {
  for (const RawFrame& f : frames) {
    if (f.type == NGHTTP2_GOAWAY && f.payload.size() >= 8) {
      return std::make_pair(static_cast<int32_t>(be32(f.payload) & 0x7fffffff),
                            be32(std::string_view(f.payload).substr(4)));
    }
  }
  return std::nullopt;
}

// ---- The fixture: a codec and a client joined in memory. ----

class ServerCodecTest : public ::testing::Test {
 protected:
  void start(const Limits& limits = {}, ClientOptions options = {}) {
    codec_ = std::make_unique<ServerCodec>(handler_, limits);
    handler_.codec = codec_.get();
    client_ = std::make_unique<TestClient>(options);
  }

  // Moves bytes both ways until neither side has more to say. False when receive() was.
  bool exchange() {
    bool ok = true;
    for (int round = 0; round < 100000; ++round) {
      const std::string up = client_->output();
      if (!up.empty() && ok) ok = codec_->receive(up);
      const std::string down = drain(*codec_);
      if (!down.empty()) client_->input(down);
      if (up.empty() && down.empty()) return ok;
    }
    ADD_FAILURE() << "the exchange did not settle";
    return ok;
  }

  // A raw connection: the preface, an empty SETTINGS, the server's answer taken; then a SETTINGS
  // ACK for the server's SETTINGS unless `ack` is false.
  void startRaw(const Limits& limits = {}, bool ack = true) {
    codec_ = std::make_unique<ServerCodec>(handler_, limits);
    handler_.codec = codec_.get();
    std::string hello(kClientPreface);
    hello += rawFrame(NGHTTP2_SETTINGS, 0, 0, "");
    ASSERT_TRUE(codec_->receive(hello));
    const std::vector<RawFrame> frames = parseFrames(drain(*codec_));
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames.front().type, NGHTTP2_SETTINGS);
    if (ack) {
      ASSERT_TRUE(codec_->receive(rawFrame(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, "")));
    }
  }

  RecordingHandler handler_;
  std::unique_ptr<ServerCodec> codec_;
  std::unique_ptr<TestClient> client_;
};

// ---- The tests. ----

TEST(MatchPrefaceTest, TellsThePrefaceFromHttp1AndAsksForMoreOnAPrefix) {
  const std::string preface(kClientPreface);
  EXPECT_EQ(matchPreface(""), Preface::kNeedMore);
  EXPECT_EQ(matchPreface("P"), Preface::kNeedMore);
  EXPECT_EQ(matchPreface("PRI * HTTP/2.0\r\n"), Preface::kNeedMore);
  EXPECT_EQ(matchPreface(preface.substr(0, 23)), Preface::kNeedMore);
  EXPECT_EQ(matchPreface(preface), Preface::kYes);
  EXPECT_EQ(matchPreface(preface + rawFrame(NGHTTP2_SETTINGS, 0, 0, "")), Preface::kYes);
  EXPECT_EQ(matchPreface("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Preface::kNo);
  EXPECT_EQ(matchPreface("PRI * HTTP/1.1\r\n"), Preface::kNo);
  EXPECT_EQ(matchPreface("POST"), Preface::kNo);
  EXPECT_EQ(matchPreface(std::string_view("\0", 1)), Preface::kNo);
}

TEST_F(ServerCodecTest, AnnouncesItsLimitsInSettings) {
  Limits limits;
  limits.max_concurrent_streams = 7;
  limits.max_header_list_bytes = 12345;
  limits.stream_window_bytes = 100000;
  start(limits);
  ASSERT_TRUE(exchange());
  EXPECT_EQ(client_->remoteSetting(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 7u);
  EXPECT_EQ(client_->remoteSetting(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 12345u);
  EXPECT_EQ(client_->remoteSetting(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE), 100000u);
  EXPECT_TRUE(codec_->wantsRead());
  EXPECT_FALSE(codec_->wantsWrite());
}

TEST_F(ServerCodecTest, AGetIsAnsweredWithHeadersAndBody) {
  start();
  handler_.on_request = [&](const RequestHead& head) {
    ASSERT_TRUE(codec_->respond(
        head.stream_id, 200, {{"content-type", "text/plain"}, {"x-served-by", "turnpike"}}, false));
    EXPECT_EQ(codec_->sendData(head.stream_id, "hello", true), SendResult::kQueued);
  };
  const int32_t id = client_->get("/items?x=1", {{"user-agent", "test"}, {"accept", "*/*"}});
  ASSERT_TRUE(exchange());

  ASSERT_EQ(handler_.requests.size(), 1u);
  const RequestHead& head = handler_.requests[0];
  EXPECT_EQ(head.stream_id, id);
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.scheme, "https");
  EXPECT_EQ(head.authority, "api.example");
  EXPECT_EQ(head.path, "/items?x=1");
  EXPECT_EQ(head.headers, (std::vector<Header>{{"user-agent", "test"}, {"accept", "*/*"}}));
  EXPECT_TRUE(head.end_stream);
  EXPECT_EQ(handler_.log, (std::vector<std::string>{"request 1", "end 1", "closed 1 0"}));

  const ClientStream& s = client_->streams[id];
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.headers,
            (std::vector<Header>{{"content-type", "text/plain"}, {"x-served-by", "turnpike"}}));
  EXPECT_EQ(s.body, "hello");
  EXPECT_TRUE(s.ended);
  EXPECT_TRUE(s.closed);
  EXPECT_EQ(s.close_code, NGHTTP2_NO_ERROR);
  EXPECT_EQ(codec_->openStreams(), 0u);
  EXPECT_TRUE(codec_->wantsRead());
}

TEST_F(ServerCodecTest, APostBodyAndTrailersArriveInOrderAndTheResponseHasTrailersToo) {
  start();
  handler_.on_end = [&](int32_t stream) {
    ASSERT_TRUE(codec_->respond(stream, 201, {{"content-type", "application/grpc"}}, false));
    EXPECT_EQ(codec_->sendData(stream, "re: " + handler_.bodies[stream], false),
              SendResult::kQueued);
    EXPECT_TRUE(codec_->sendTrailers(stream, {{"grpc-status", "0"}, {"grpc-message", "ok"}}));
    EXPECT_EQ(codec_->sendData(stream, "late", false), SendResult::kClosed);
    EXPECT_FALSE(codec_->sendTrailers(stream, {{"x", "y"}}));
  };
  const int32_t id = client_->post("/orders", "order #1", {{"x-checksum", "abc"}},
                                   {{"content-type", "text/plain"}});
  ASSERT_TRUE(exchange());

  ASSERT_EQ(handler_.requests.size(), 1u);
  EXPECT_FALSE(handler_.requests[0].end_stream);
  EXPECT_EQ(handler_.requests[0].method, "POST");
  EXPECT_EQ(handler_.bodies[id], "order #1");
  EXPECT_EQ(handler_.trailers[id], (std::vector<Header>{{"x-checksum", "abc"}}));
  EXPECT_EQ(handler_.log,
            (std::vector<std::string>{"request 1", "trailers 1", "end 1", "closed 1 0"}));
  const ClientStream& s = client_->streams[id];
  EXPECT_EQ(s.status, 201);
  EXPECT_EQ(s.body, "re: order #1");
  EXPECT_EQ(s.trailers, (std::vector<Header>{{"grpc-status", "0"}, {"grpc-message", "ok"}}));
  EXPECT_TRUE(s.ended);
  EXPECT_EQ(s.close_code, NGHTTP2_NO_ERROR);
}

TEST_F(ServerCodecTest, AnInformationalResponseComesBeforeTheFinalOne) {
  start();
  handler_.on_request = [&](const RequestHead& head) {
    EXPECT_TRUE(codec_->respond(head.stream_id, 103, {{"link", "</a.css>; rel=preload"}}, false));
    EXPECT_FALSE(codec_->respond(head.stream_id, 101, {}, false));
    EXPECT_TRUE(codec_->respond(head.stream_id, 204, {}, true));
    EXPECT_FALSE(codec_->respond(head.stream_id, 200, {}, true));
  };
  const int32_t id = client_->get();
  ASSERT_TRUE(exchange());
  EXPECT_EQ(client_->streams[id].informational, (std::vector<int>{103}));
  EXPECT_EQ(client_->streams[id].status, 204);
  EXPECT_TRUE(client_->streams[id].ended);
}

TEST_F(ServerCodecTest, ConnectionSpecificResponseHeadersAreDroppedAndNamesLowerCased) {
  start();
  handler_.on_request = [&](const RequestHead& head) {
    ASSERT_TRUE(codec_->respond(head.stream_id, 200,
                                {{"connection", "close, X-Hop"},
                                 {"keep-alive", "timeout=5"},
                                 {"proxy-connection", "keep-alive"},
                                 {"transfer-encoding", "chunked"},
                                 {"upgrade", "websocket"},
                                 {"te", "gzip"},
                                 {"x-hop", "1"},
                                 {"X-Upper", "v"},
                                 {":status", "500"},
                                 {"te", "trailers"},
                                 {"content-type", "text/plain"}},
                                true));
  };
  const int32_t id = client_->get();
  ASSERT_TRUE(exchange());
  // The client's nghttp2 resets a stream whose response has a connection-specific header: a
  // complete 200 shows none went out.
  const ClientStream& s = client_->streams[id];
  EXPECT_EQ(s.status, 200);
  EXPECT_FALSE(s.reset);
  EXPECT_EQ(s.headers, (std::vector<Header>{
                           {"x-upper", "v"}, {"te", "trailers"}, {"content-type", "text/plain"}}));
}

TEST_F(ServerCodecTest, AResponseHeaderBlockTooLargeToSendResetsTheStream) {
  start();
  handler_.on_request = [&](const RequestHead& head) {
    EXPECT_TRUE(codec_->respond(head.stream_id, 200, {{"x-huge", pattern(70000)}}, true));
  };
  const int32_t id = client_->get();
  ASSERT_TRUE(exchange());
  EXPECT_EQ(client_->streams[id].status, 0);
  EXPECT_EQ(client_->streams[id].reset_code, NGHTTP2_INTERNAL_ERROR);
  EXPECT_EQ(handler_.closed[id], NGHTTP2_INTERNAL_ERROR);
  EXPECT_FALSE(client_->goaway);
}

TEST_F(ServerCodecTest, MalformedRequestsAreResetAndTheConnectionLivesOn) {
  start();
  handler_.on_request = [&](const RequestHead& head) {
    codec_->respond(head.stream_id, 200, {}, true);
  };
  const std::vector<std::vector<Header>> malformed = {
      // no :path
      {{":method", "GET"}, {":scheme", "https"}, {":authority", "api.example"}},
      // no :scheme
      {{":method", "GET"}, {":authority", "api.example"}, {":path", "/"}},
      // neither :authority nor host
      {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}},
      // a connection-specific header
      {{":method", "GET"},
       {":scheme", "https"},
       {":authority", "api.example"},
       {":path", "/"},
       {"connection", "keep-alive"}},
      // te other than trailers
      {{":method", "GET"},
       {":scheme", "https"},
       {":authority", "a"},
       {":path", "/"},
       {"te", "gzip"}},
      // a pseudo-header after a regular one
      {{":method", "GET"}, {":scheme", "https"}, {"x-a", "1"}, {":authority", "a"}, {":path", "/"}},
      // an unknown pseudo-header
      {{":method", "GET"}, {":scheme", "https"}, {":authority", "a"}, {":path", "/"}, {":x", "1"}},
      // a Host naming another origin than :authority
      {{":method", "GET"},
       {":scheme", "https"},
       {":authority", "api.example"},
       {":path", "/"},
       {"host", "admin.internal"}},
  };
  std::vector<int32_t> ids;
  for (const auto& fields : malformed) ids.push_back(client_->request(fields));
  ASSERT_TRUE(exchange());
  for (size_t i = 0; i < ids.size(); ++i) {
    const ClientStream& s = client_->streams[ids[i]];
    EXPECT_TRUE(s.reset) << "request " << i;
    EXPECT_EQ(s.reset_code, NGHTTP2_PROTOCOL_ERROR) << "request " << i;
    EXPECT_EQ(s.status, 0) << "request " << i;
  }
  EXPECT_TRUE(handler_.requests.empty());
  EXPECT_FALSE(client_->goaway);

  // Host alone stands for :authority, and one equal to it (in any case) is fine.
  const int32_t by_host = client_->request(
      {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "h.example"}});
  const int32_t both = client_->get("/", {{"host", "API.example"}});
  ASSERT_TRUE(exchange());
  EXPECT_EQ(client_->streams[by_host].status, 200);
  EXPECT_EQ(client_->streams[both].status, 200);
  ASSERT_EQ(handler_.requests.size(), 2u);
  EXPECT_EQ(handler_.requests[0].authority, "h.example");
  EXPECT_EQ(handler_.requests[1].authority, "api.example");
}

TEST_F(ServerCodecTest, AnUpperCaseFieldNameIsMalformed) {
  // (nghttp2's client lower-cases names as it submits them: the frame is made by hand.)
  startRaw();
  ASSERT_TRUE(codec_->receive(rawFrame(NGHTTP2_HEADERS,
                                       NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 1,
                                       hpackBlock({{":method", "GET"},
                                                   {":scheme", "https"},
                                                   {":authority", "a"},
                                                   {":path", "/"},
                                                   {"X-Upper", "1"}}))));
  const std::vector<RawFrame> frames = parseFrames(drain(*codec_));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].type, NGHTTP2_RST_STREAM);
  EXPECT_EQ(frames[0].stream, 1);
  EXPECT_EQ(be32(frames[0].payload), NGHTTP2_PROTOCOL_ERROR);
  EXPECT_TRUE(handler_.requests.empty());
  EXPECT_TRUE(codec_->wantsRead());
}

TEST_F(ServerCodecTest, ContentLengthMustMatchTheBody) {
  start();
  const int32_t id = client_->post("/", "12345", {}, {{"content-length", "3"}});
  ASSERT_TRUE(exchange());
  EXPECT_TRUE(client_->streams[id].reset);
  EXPECT_EQ(client_->streams[id].reset_code, NGHTTP2_PROTOCOL_ERROR);
  // The Handler had the request, so it hears that the stream is gone.
  ASSERT_EQ(handler_.closed.count(id), 1u);
  EXPECT_EQ(handler_.closed[id], NGHTTP2_PROTOCOL_ERROR);
  EXPECT_EQ(codec_->openStreams(), 0u);
}

TEST_F(ServerCodecTest, CookieCrumbsAreJoinedIntoOneField) {
  start();
  client_->get("/", {{"cookie", "a=1"}, {"x-a", "b"}, {"cookie", "b=2"}, {"cookie", "c=3"}});
  ASSERT_TRUE(exchange());
  ASSERT_EQ(handler_.requests.size(), 1u);
  EXPECT_EQ(handler_.requests[0].headers,
            (std::vector<Header>{{"cookie", "a=1; b=2; c=3"}, {"x-a", "b"}}));
}

TEST_F(ServerCodecTest, AResponseLargerThanTheWindowsArrivesWhole) {
  start({}, {.initial_window = 65535});
  const std::string body = pattern(1024 * 1024 + 123);
  BodyPump pump{.body = body};
  handler_.on_request = [&](const RequestHead& head) {
    pump.stream = head.stream_id;
    ASSERT_TRUE(codec_->respond(head.stream_id, 200, {}, false));
    pump.run(*codec_);
  };
  handler_.on_space = [&](int32_t) { pump.run(*codec_); };
  const int32_t id = client_->get();
  ASSERT_TRUE(exchange());
  const ClientStream& s = client_->streams[id];
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.body.size(), body.size());
  EXPECT_TRUE(s.body == body);
  EXPECT_TRUE(s.ended);
  // The queue never held more than its limit and one chunk.
  EXPECT_LE(pump.max_queued, Limits{}.max_outbound_bytes_per_stream + pump.chunk);
  EXPECT_GT(handler_.space_calls, 0u);
}

TEST_F(ServerCodecTest, ARequestBodyWaitsForConsumedToReopenTheWindows) {
  Limits limits;
  limits.stream_window_bytes = 128 * 1024;
  start(limits);
  handler_.consume_at_once = false;
  const std::string body = pattern(600 * 1000);
  const int32_t id = client_->post("/upload", body);
  ASSERT_TRUE(exchange());
  // The client may send one stream window and no more until the Handler consumes.
  EXPECT_EQ(handler_.data_received, 128u * 1024);
  EXPECT_EQ(client_->streams[id].sent, 128u * 1024);

  for (int i = 0; i < 100 && handler_.bodies[id].size() < body.size(); ++i) {
    codec_->consumed(id, handler_.data_received);
    handler_.data_received = 0;
    ASSERT_TRUE(exchange());
  }
  EXPECT_TRUE(handler_.bodies[id] == body);
  EXPECT_EQ(handler_.log.back(), "end 1");
}

TEST_F(ServerCodecTest, TheConnectionWindowBoundsUnconsumedBodiesOverAllStreams) {
  Limits limits;
  limits.stream_window_bytes = 256 * 1024;
  limits.connection_window_bytes = 512 * 1024;
  start(limits);
  handler_.consume_at_once = false;
  for (int i = 0; i < 5; ++i) client_->post("/", pattern(300 * 1000));
  ASSERT_TRUE(exchange());
  EXPECT_EQ(handler_.data_received, 512u * 1024);
}

TEST_F(ServerCodecTest, BodiesOfClosedStreamsGiveTheConnectionWindowBack) {
  Limits limits;
  limits.stream_window_bytes = 64 * 1024;
  limits.connection_window_bytes = 128 * 1024;
  start(limits);
  handler_.consume_at_once = false;
  // Two streams fill the connection window and are never consumed, then the client gives up on
  // them; a third may still send all of its body.
  const int32_t a = client_->post("/a", pattern(100 * 1000));
  const int32_t b = client_->post("/b", pattern(100 * 1000));
  ASSERT_TRUE(exchange());
  EXPECT_EQ(handler_.data_received, 128u * 1024);
  client_->reset(a, NGHTTP2_CANCEL);
  client_->reset(b, NGHTTP2_CANCEL);
  ASSERT_TRUE(exchange());
  EXPECT_EQ(handler_.closed[a], NGHTTP2_CANCEL);
  EXPECT_EQ(handler_.closed[b], NGHTTP2_CANCEL);

  handler_.consume_at_once = true;
  const std::string body = pattern(300 * 1000);
  const int32_t c = client_->post("/c", body);
  ASSERT_TRUE(exchange());
  EXPECT_TRUE(handler_.bodies[c] == body);
  // consumed() for a closed stream does nothing.
  codec_->consumed(a, 1000);
}

TEST_F(ServerCodecTest, AClientThatNeverOpensItsWindowHoldsTheQueueAtItsLimit) {
  Limits limits;
  limits.max_outbound_bytes_per_stream = 256 * 1024;
  start(limits, {.initial_window = 65535, .auto_window_update = false});
  BodyPump pump{.body = pattern(1024 * 1024)};
  handler_.on_request = [&](const RequestHead& head) {
    pump.stream = head.stream_id;
    ASSERT_TRUE(codec_->respond(head.stream_id, 200, {}, false));
    pump.run(*codec_);
  };
  handler_.on_space = [&](int32_t) { pump.run(*codec_); };
  const int32_t id = client_->get();
  ASSERT_TRUE(exchange());

  // The client has its window's worth; the codec holds what the Handler queued beyond it, up to
  // the limit (plus one chunk), and the Handler waits.
  EXPECT_EQ(client_->streams[id].body.size(), 65535u);
  EXPECT_LE(pump.next, 65535 + limits.max_outbound_bytes_per_stream + pump.chunk);
  EXPECT_EQ(codec_->queuedBytes(id), pump.next - 65535);
  EXPECT_GE(codec_->queuedBytes(id), limits.max_outbound_bytes_per_stream);
  EXPECT_LE(codec_->queuedBytes(id), limits.max_outbound_bytes_per_stream + pump.chunk);
  EXPECT_EQ(codec_->sendData(id, "more", false), SendResult::kFull);
  EXPECT_FALSE(codec_->wantsWrite());
  const size_t memory = codec_->memoryInUse();
  EXPECT_LT(memory, limits.max_outbound_bytes_per_stream + 200 * 1024);

  // Time passes, nothing moves and nothing grows.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(exchange());
  EXPECT_EQ(client_->streams[id].body.size(), 65535u);
  EXPECT_EQ(codec_->memoryInUse(), memory);

  // The client reads at last: the rest arrives.
  size_t consumed = 0;
  for (int i = 0; i < 100 && !client_->streams[id].ended; ++i) {
    client_->consume(id, client_->streams[id].body.size() - consumed);
    consumed = client_->streams[id].body.size();
    ASSERT_TRUE(exchange());
  }
  EXPECT_TRUE(client_->streams[id].ended);
  EXPECT_TRUE(client_->streams[id].body == pump.body);
}

TEST_F(ServerCodecTest, AStreamResetByThePeerRefusesTheResponse) {
  start();
  const int32_t id = client_->get();
  ASSERT_TRUE(exchange());
  ASSERT_EQ(handler_.requests.size(), 1u);
  client_->reset(id, NGHTTP2_CANCEL);
  ASSERT_TRUE(exchange());
  EXPECT_EQ(handler_.closed[id], NGHTTP2_CANCEL);
  EXPECT_FALSE(codec_->respond(id, 200, {}, false));
  EXPECT_EQ(codec_->sendData(id, "x", true), SendResult::kClosed);
  EXPECT_EQ(codec_->queuedBytes(id), 0u);
  codec_->resetStream(id, NGHTTP2_CANCEL);  // nothing happens
  EXPECT_EQ(codec_->openStreams(), 0u);
  EXPECT_TRUE(drain(*codec_).empty());
}

TEST_F(ServerCodecTest, ResetStreamDropsTheQueueAndDiscardsLaterRequestData) {
  start({}, {.initial_window = 65535, .auto_window_update = false});
  handler_.on_request = [&](const RequestHead& head) {
    ASSERT_TRUE(codec_->respond(head.stream_id, 200, {}, false));
    EXPECT_EQ(codec_->sendData(head.stream_id, pattern(100000), false), SendResult::kQueued);
  };
  const int32_t id = client_->post("/", pattern(50000));
  ASSERT_TRUE(exchange());
  EXPECT_GT(codec_->queuedBytes(id), 0u);
  codec_->resetStream(id, NGHTTP2_INTERNAL_ERROR);
  EXPECT_EQ(codec_->queuedBytes(id), 0u);
  ASSERT_TRUE(exchange());
  EXPECT_EQ(client_->streams[id].reset_code, NGHTTP2_INTERNAL_ERROR);
  EXPECT_EQ(handler_.closed[id], NGHTTP2_INTERNAL_ERROR);
  EXPECT_LT(codec_->memoryInUse(), 64u * 1024);
}

TEST_F(ServerCodecTest, AResponseCompleteBeforeTheRequestBodyStopsTheUpload) {
  Limits limits;
  limits.stream_window_bytes = 64 * 1024;
  start(limits);
  handler_.consume_at_once = false;
  handler_.on_request = [&](const RequestHead& head) {
    ASSERT_TRUE(codec_->respond(head.stream_id, 413, {}, true));
  };
  const int32_t id = client_->post("/upload", pattern(1000 * 1000));
  ASSERT_TRUE(exchange());
  const ClientStream& s = client_->streams[id];
  EXPECT_EQ(s.status, 413);
  EXPECT_TRUE(s.ended);
  // RST_STREAM(NO_ERROR) after the complete response: stop sending (RFC 9113 §8.1).
  EXPECT_TRUE(s.reset);
  EXPECT_EQ(s.reset_code, NGHTTP2_NO_ERROR);
  EXPECT_LT(s.sent, 1000u * 1000);
  EXPECT_EQ(handler_.closed[id], NGHTTP2_NO_ERROR);
  EXPECT_EQ(codec_->openStreams(), 0u);
}

TEST_F(ServerCodecTest, AnOversizedHeaderListIsAnswered431AndTheConnectionLivesOn) {
  start({}, {.max_send_header_block = 256 * 1024});
  handler_.on_request = [&](const RequestHead& head) {
    codec_->respond(head.stream_id, 200, {}, true);
  };
  // 64 KiB is the limit: four 15,000-byte fields fit, five do not.
  std::vector<Header> fits, too_big;
  for (int i = 0; i < 5; ++i) {
    Header h{"x-big-" + std::to_string(i), std::string(15000, static_cast<char>('a' + i))};
    if (i < 4) fits.push_back(h);
    too_big.push_back(h);
  }
  const int32_t get = client_->get("/", too_big);
  const int32_t post = client_->post("/", pattern(100000), {}, too_big);
  const int32_t ok = client_->get("/", fits);
  ASSERT_TRUE(exchange());

  EXPECT_EQ(client_->streams[get].status, 431);
  EXPECT_TRUE(client_->streams[get].ended);
  EXPECT_EQ(client_->streams[get].close_code, NGHTTP2_NO_ERROR);
  EXPECT_EQ(client_->streams[post].status, 431);
  EXPECT_TRUE(client_->streams[post].ended);
  EXPECT_EQ(client_->streams[post].reset_code, NGHTTP2_NO_ERROR);  // stop sending the body
  EXPECT_EQ(client_->streams[ok].status, 200);
  ASSERT_EQ(handler_.requests.size(), 1u);
  EXPECT_EQ(handler_.requests[0].stream_id, ok);
  EXPECT_EQ(handler_.requests[0].headers, fits);
  EXPECT_FALSE(client_->goaway);
  EXPECT_EQ(codec_->openStreams(), 0u);

  // Oversized trailers: the stream is reset.
  std::vector<Header> big_trailers = {too_big.begin(), too_big.end()};
  const int32_t with_trailers = client_->post("/", "body", big_trailers);
  handler_.on_request = nullptr;
  ASSERT_TRUE(exchange());
  EXPECT_EQ(client_->streams[with_trailers].reset_code, NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_EQ(handler_.trailers.count(with_trailers), 0u);
  EXPECT_EQ(handler_.closed[with_trailers], NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_F(ServerCodecTest, AFieldOver64KiBIsACompressionError) {
  // nghttp2's HPACK decoder refuses any single name or value over 64 KiB, before the header list
  // limit is reached: the whole connection fails.
  Limits limits;
  limits.max_header_list_bytes = 1024 * 1024;
  start(limits, {.max_send_header_block = 256 * 1024});
  // '{' has a 15-bit Huffman code: the encoder sends the value as it is, 70,000 bytes long.
  client_->get("/", {{"x-huge", std::string(70000, '{')}});
  exchange();
  EXPECT_TRUE(client_->goaway);
  EXPECT_EQ(client_->goaway_code, NGHTTP2_COMPRESSION_ERROR);
  EXPECT_TRUE(handler_.requests.empty());
  EXPECT_FALSE(codec_->wantsRead());
  EXPECT_FALSE(codec_->wantsWrite());
}

TEST_F(ServerCodecTest, TenThousandStreamsAtOnceAreRefusedBeyondTheLimit) {
  start();
  const size_t baseline = codec_->memoryInUse();
  for (int i = 0; i < 10000; ++i) client_->get("/s" + std::to_string(i));
  // The client's whole first flight, read 16 KiB at a time, the answers written in between.
  const std::string flight = client_->output();
  size_t peak = 0;
  for (size_t at = 0; at < flight.size(); at += 16384) {
    ASSERT_TRUE(codec_->receive(std::string_view(flight).substr(at, 16384)));
    peak = std::max(peak, codec_->memoryInUse());
    client_->input(drain(*codec_));
  }
  ASSERT_TRUE(exchange());

  EXPECT_EQ(handler_.requests.size(), 100u);
  EXPECT_EQ(codec_->openStreams(), 100u);
  EXPECT_EQ(client_->resets.size(), 9900u);
  EXPECT_TRUE(std::all_of(client_->resets.begin(), client_->resets.end(),
                          [](const auto& r) { return r.second == NGHTTP2_REFUSED_STREAM; }));
  EXPECT_FALSE(client_->goaway);
  // What the connection holds is the 100 open streams' worth, whatever was refused.
  EXPECT_LT(peak, baseline + 1024 * 1024) << "baseline " << baseline;
  const size_t with_open_streams = codec_->memoryInUse();
  EXPECT_LT(with_open_streams, baseline + 100 * 1024) << "baseline " << baseline;

  // Answered, the streams are gone, and so is their memory.
  for (const RequestHead& r : handler_.requests) codec_->respond(r.stream_id, 204, {}, true);
  ASSERT_TRUE(exchange());
  EXPECT_EQ(codec_->openStreams(), 0u);
  EXPECT_LE(codec_->memoryInUse(), baseline + 16 * 1024) << "baseline " << baseline;

  // The client now keeps to the limit, and new requests are served.
  handler_.on_request = [&](const RequestHead& head) {
    codec_->respond(head.stream_id, 200, {}, true);
  };
  const int32_t later = client_->get("/later");
  ASSERT_TRUE(exchange());
  EXPECT_EQ(client_->streams[later].status, 200);
}

TEST_F(ServerCodecTest, ExceedingTheAcknowledgedStreamLimitIsAConnectionError) {
  Limits limits;
  limits.max_concurrent_streams = 2;
  startRaw(limits);
  std::string bytes;
  for (int32_t id = 1; id <= 5; id += 2) {
    bytes += rawFrame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, id, getBlock());
  }
  ASSERT_TRUE(codec_->receive(bytes));
  const auto goaway = findGoaway(parseFrames(drain(*codec_)));
  ASSERT_TRUE(goaway.has_value());
  EXPECT_EQ(goaway->second, NGHTTP2_PROTOCOL_ERROR);
  EXPECT_EQ(goaway->first, 3);
  EXPECT_EQ(handler_.requests.size(), 2u);
  EXPECT_FALSE(codec_->wantsRead());
}

TEST_F(ServerCodecTest, ARapidResetFloodEndsWithGoaway) {
  start();
  // Each request's HEADERS go out, then its RST_STREAM: the server sees both.
  std::string flood = client_->output();
  int32_t last = 0;
  for (int i = 0; i < 3000; ++i) {
    last = client_->get("/r");
    flood += client_->output();
    client_->reset(last, NGHTTP2_CANCEL);
    flood += client_->output();
  }
  std::optional<size_t> requests_at_goaway;
  for (size_t at = 0; at < flood.size(); at += 16384) {
    ASSERT_TRUE(codec_->receive(std::string_view(flood).substr(at, 16384)));
    client_->input(drain(*codec_));
    if (client_->goaway && !requests_at_goaway) requests_at_goaway = handler_.requests.size();
  }
  exchange();

  EXPECT_TRUE(client_->goaway);
  EXPECT_EQ(client_->goaway_code, NGHTTP2_INTERNAL_ERROR);
  EXPECT_LT(client_->goaway_last_stream, last);
  // Once the GOAWAY was out, no new stream reached the Handler; every stream that did was
  // closed.
  ASSERT_TRUE(requests_at_goaway.has_value());
  EXPECT_EQ(handler_.requests.size(), *requests_at_goaway);
  EXPECT_GE(handler_.requests.size(), 1000u);
  EXPECT_LT(handler_.requests.size(), 3000u);
  EXPECT_EQ(handler_.closed.size(), handler_.requests.size());
  EXPECT_EQ(codec_->openStreams(), 0u);
  // The connection is over, cleanly: nothing to read or write, nothing held.
  EXPECT_FALSE(codec_->wantsRead());
  EXPECT_FALSE(codec_->wantsWrite());
  EXPECT_TRUE(codec_->receive(rawFrame(NGHTTP2_PING, 0, 0, std::string(8, 'p'))));
  EXPECT_TRUE(drain(*codec_).empty());
  EXPECT_EQ(codec_->openStreams(), 0u);
}

TEST_F(ServerCodecTest, StreamsResetForThePeersErrorsAreRateLimitedToo) {
  // "MadeYouReset": requests the server must reset after it began them (here: more DATA than
  // their content-length) cost as much as a rapid reset; the same bucket bounds them.
  Limits limits;
  limits.reset_burst = 50;
  limits.reset_rate_per_s = 1;
  start(limits);
  for (int i = 0; i < 200; ++i) client_->post("/", "xx", {}, {{"content-length", "1"}});
  exchange();
  EXPECT_TRUE(client_->goaway);
  EXPECT_EQ(client_->goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
  const size_t protocol_errors =
      std::count_if(client_->resets.begin(), client_->resets.end(),
                    [](const auto& r) { return r.second == NGHTTP2_PROTOCOL_ERROR; });
  EXPECT_GE(protocol_errors, 51u);
  EXPECT_EQ(codec_->openStreams(), 0u);
  EXPECT_FALSE(codec_->wantsRead());
  EXPECT_FALSE(codec_->wantsWrite());
}

TEST_F(ServerCodecTest, ResetsTheHandlerAsksForAreNotCounted) {
  Limits limits;
  limits.reset_burst = 50;
  limits.reset_rate_per_s = 1;
  start(limits);
  handler_.on_request = [&](const RequestHead& head) {
    codec_->resetStream(head.stream_id, NGHTTP2_CANCEL);
  };
  for (int i = 0; i < 200; ++i) client_->get();
  ASSERT_TRUE(exchange());
  EXPECT_EQ(client_->resets.size(), 200u);
  EXPECT_FALSE(client_->goaway);
  EXPECT_TRUE(codec_->wantsRead());
}

TEST_F(ServerCodecTest, AContinuationFloodIsAConnectionError) {
  startRaw();
  std::string bytes = rawFrame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, getBlock());
  for (int i = 0; i < 10000; ++i) bytes += rawFrame(NGHTTP2_CONTINUATION, 0, 1, "");
  EXPECT_FALSE(codec_->receive(bytes));
  const std::string out = drain(*codec_);
  const auto goaway = findGoaway(parseFrames(out));
  ASSERT_TRUE(goaway.has_value());
  EXPECT_EQ(goaway->second, NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_TRUE(handler_.requests.empty());
  EXPECT_FALSE(codec_->wantsRead());
  EXPECT_FALSE(codec_->wantsWrite());
  EXPECT_FALSE(codec_->receive(rawFrame(NGHTTP2_CONTINUATION, 0, 1, "")));
  EXPECT_TRUE(drain(*codec_).empty());
}

TEST_F(ServerCodecTest, EightContinuationsAreAllowed) {
  startRaw();
  const std::string block = getBlock();
  std::string bytes = rawFrame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, block.substr(0, 4));
  for (size_t i = 0; i < 7; ++i) {
    bytes += rawFrame(NGHTTP2_CONTINUATION, 0, 1, block.substr(4 + i, 1));
  }
  bytes += rawFrame(NGHTTP2_CONTINUATION, NGHTTP2_FLAG_END_HEADERS, 1, block.substr(11));
  ASSERT_TRUE(codec_->receive(bytes));
  ASSERT_EQ(handler_.requests.size(), 1u);
  EXPECT_EQ(handler_.requests[0].path, "/");
  EXPECT_TRUE(codec_->wantsRead());
}

TEST_F(ServerCodecTest, ContinuationsAreCountedPerFrameHoweverTheBytesAreCut) {
  // Read one byte at a time, or cut anywhere: the same eight CONTINUATIONs pass, nine do not.
  const std::string block = getBlock();
  for (size_t continuations : {8, 9}) {
    for (size_t piece : {1, 2, 5, 9, 10, 11}) {
      RecordingHandler handler;
      ServerCodec codec(handler, Limits{});
      std::string bytes(kClientPreface);
      bytes += rawFrame(NGHTTP2_SETTINGS, 0, 0, "");
      bytes += rawFrame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, block.substr(0, 2));
      for (size_t i = 0; i + 1 < continuations; ++i) {
        bytes += rawFrame(NGHTTP2_CONTINUATION, 0, 1, block.substr(2 + i, 1));
      }
      bytes += rawFrame(NGHTTP2_CONTINUATION, NGHTTP2_FLAG_END_HEADERS, 1,
                        block.substr(1 + continuations));
      bool ok = true;
      for (size_t at = 0; at < bytes.size() && ok; at += piece) {
        ok = codec.receive(std::string_view(bytes).substr(at, piece));
      }
      EXPECT_EQ(ok, continuations == 8) << continuations << " in pieces of " << piece;
      EXPECT_EQ(handler.requests.size(), continuations == 8 ? 1u : 0u)
          << continuations << " in pieces of " << piece;
    }
  }
}

TEST_F(ServerCodecTest, GarbageInsteadOfThePrefaceIsRefusedWithGoaway) {
  codec_ = std::make_unique<ServerCodec>(handler_, Limits{});
  EXPECT_FALSE(codec_->receive("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  const std::vector<RawFrame> frames = parseFrames(drain(*codec_));
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.front().type, NGHTTP2_SETTINGS);
  const auto goaway = findGoaway(frames);
  ASSERT_TRUE(goaway.has_value());
  EXPECT_EQ(goaway->second, NGHTTP2_PROTOCOL_ERROR);
  EXPECT_EQ(goaway->first, 0);
  EXPECT_FALSE(codec_->wantsRead());
  EXPECT_FALSE(codec_->wantsWrite());
  EXPECT_FALSE(codec_->receive(kClientPreface));
}

TEST_F(ServerCodecTest, AProtocolErrorEndsTheConnectionWithGoaway) {
  startRaw();
  // A DATA frame on stream 0 is a connection error.
  EXPECT_TRUE(codec_->receive(rawFrame(NGHTTP2_DATA, 0, 0, "x")));
  const auto goaway = findGoaway(parseFrames(drain(*codec_)));
  ASSERT_TRUE(goaway.has_value());
  EXPECT_EQ(goaway->second, NGHTTP2_PROTOCOL_ERROR);
  EXPECT_FALSE(codec_->wantsRead());
  EXPECT_FALSE(codec_->wantsWrite());
}

TEST_F(ServerCodecTest, APingFloodWithoutReadingEndsTheConnection) {
  startRaw();
  std::string pings;
  for (int i = 0; i < 2000; ++i) pings += rawFrame(NGHTTP2_PING, 0, 0, std::string(8, 'p'));
  EXPECT_FALSE(codec_->receive(pings));
  EXPECT_FALSE(codec_->wantsRead());
  const size_t memory = codec_->memoryInUse();
  EXPECT_LT(memory, 512 * 1024);
  const auto goaway = findGoaway(parseFrames(drain(*codec_)));
  ASSERT_TRUE(goaway.has_value());
  EXPECT_EQ(goaway->second, NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_F(ServerCodecTest, GoAwayLetsOpenStreamsFinish) {
  start();
  const int32_t first = client_->get("/1");
  const int32_t second = client_->post("/2", "body");
  ASSERT_TRUE(exchange());
  ASSERT_EQ(handler_.requests.size(), 2u);

  codec_->goAway();
  ASSERT_TRUE(exchange());
  EXPECT_TRUE(client_->goaway);
  EXPECT_EQ(client_->goaway_code, NGHTTP2_NO_ERROR);
  EXPECT_EQ(client_->goaway_last_stream, second);
  EXPECT_TRUE(codec_->wantsRead());  // streams are open

  // A request the client sent before it read the GOAWAY is not taken.
  ASSERT_TRUE(codec_->receive(rawFrame(
      NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 5, getBlock())));
  EXPECT_EQ(handler_.requests.size(), 2u);

  ASSERT_TRUE(codec_->respond(first, 200, {}, false));
  ASSERT_EQ(codec_->sendData(first, "one", true), SendResult::kQueued);
  ASSERT_TRUE(codec_->respond(second, 200, {}, false));
  ASSERT_EQ(codec_->sendData(second, "two", true), SendResult::kQueued);
  ASSERT_TRUE(exchange());
  EXPECT_EQ(client_->streams[first].body, "one");
  EXPECT_TRUE(client_->streams[first].ended);
  EXPECT_EQ(client_->streams[second].body, "two");
  EXPECT_TRUE(client_->streams[second].ended);
  EXPECT_EQ(codec_->openStreams(), 0u);
  EXPECT_FALSE(codec_->wantsRead());
  EXPECT_FALSE(codec_->wantsWrite());
}

TEST_F(ServerCodecTest, OutputComesInBoundedPieces) {
  start({}, {.initial_window = 1 << 30});
  handler_.on_request = [&](const RequestHead& head) {
    ASSERT_TRUE(codec_->respond(head.stream_id, 200, {}, false));
    EXPECT_EQ(codec_->sendData(head.stream_id, pattern(200 * 1000), true), SendResult::kQueued);
  };
  client_->get();
  ASSERT_TRUE(codec_->receive(client_->output()));
  std::string piece;
  codec_->takeOutput(piece, 32 * 1024);
  EXPECT_GE(piece.size(), 32u * 1024);
  EXPECT_LE(piece.size(), 32u * 1024 + 16384 + 9);
  EXPECT_TRUE(codec_->wantsWrite());
}

}  // namespace
}  // namespace turnpike::proxy::http2
