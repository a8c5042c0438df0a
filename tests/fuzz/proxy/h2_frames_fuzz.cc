// Fuzzes the HTTP/2 server codec with arbitrary bytes after the client preface: nghttp2's frame
// and HPACK parsing with the codec's limits set, and the codec's own callbacks (request heads,
// the header list limit and its 431, trailers, cookies, Host against :authority, the resets it
// counts) and response side (every request is answered with a small response and body, some
// with trailers, some only once the request has ended, some reset), with the output taken after
// every chunk as a connection would.
//
// The first input byte chooses how the rest is cut into receive() calls (1 to 255 bytes, or all
// at once), so that frames split at every offset. Seeds: frame sequences of an nghttp2 client
// session (GET, POST with body and trailers, several streams, PING, a reset, a GOAWAY).
// Checked: no crash, no leak, no sanitizer report, and the memory the connection holds stays
// bounded.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http2/server_codec.h"

namespace {

using turnpike::proxy::http2::Header;
using turnpike::proxy::http2::Limits;
using turnpike::proxy::http2::RequestHead;
using turnpike::proxy::http2::SendResult;
using turnpike::proxy::http2::ServerCodec;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

class AnsweringHandler : public ServerCodec::Handler {
 public:
  ServerCodec* codec = nullptr;

  void onRequest(RequestHead head) override {
    const int32_t id = head.stream_id;
    switch ((id / 2) % 4) {
      case 0:  // headers only
        codec->respond(id, 204, {{"x-path", head.path}}, true);
        break;
      case 1:  // a body, at once
        if (codec->respond(id, 200, {{"content-type", "text/plain"}, {"connection", "close"}},
                           false)) {
          (void)codec->sendData(id, "hello " + head.method, true);
        }
        break;
      case 2:  // answered when the request ends
        break;
      default:  // refused by the Handler
        codec->resetStream(id, 0x8 /* CANCEL */);
        break;
    }
  }
  void onRequestData(int32_t stream, std::string_view data) override {
    codec->consumed(stream, data.size());
  }
  void onRequestTrailers(int32_t, std::vector<Header>) override {}
  void onRequestEnd(int32_t stream) override {
    if ((stream / 2) % 4 != 2) return;
    if (!codec->respond(stream, 103, {{"link", "</a>"}}, false)) return;
    if (!codec->respond(stream, 200, {{"te", "trailers"}}, false)) return;
    (void)codec->sendData(stream, std::string(3000, 'b'), false);
    codec->sendTrailers(stream, {{"grpc-status", "0"}});
  }
  void onStreamClosed(int32_t, uint32_t) override {}
  void onOutputSpace(int32_t stream) override { (void)codec->sendData(stream, "more", true); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = data[0] == 0 ? size : data[0];
  std::string input(kPreface);
  input.append(reinterpret_cast<const char*>(data + 1), size - 1);

  // Small limits, so that short inputs reach them.
  Limits limits;
  limits.max_concurrent_streams = 8;
  limits.max_header_list_bytes = 2048;
  limits.stream_window_bytes = 4096;
  limits.connection_window_bytes = 65535;
  limits.reset_burst = 20;
  limits.reset_rate_per_s = 1;
  limits.max_continuations = 4;
  limits.max_outbound_bytes_per_stream = 2048;
  limits.max_outbound_ack = 100;

  AnsweringHandler handler;
  ServerCodec codec(handler, limits);
  handler.codec = &codec;
  std::string out;
  for (size_t at = 0; at < input.size(); at += chunk) {
    const bool more = codec.receive(std::string_view(input).substr(at, chunk));
    out.clear();
    codec.takeOutput(out);
    // What one connection holds: 8 streams' queues and header lists, and nghttp2's own.
    if (codec.memoryInUse() > 4 * 1024 * 1024) std::abort();
    if (!more || (!codec.wantsRead() && !codec.wantsWrite())) break;
  }
  for (int i = 0; i < 64 && codec.wantsWrite(); ++i) {
    out.clear();
    codec.takeOutput(out);
  }
  return 0;
}
