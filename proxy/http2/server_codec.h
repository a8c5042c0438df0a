// ServerCodec: the server side of one HTTP/2 connection as a bytes-in, bytes-out state machine
// over libnghttp2 (nghttp2_session_mem_recv / nghttp2_session_mem_send). It owns no socket, no
// timer and no Asio: the connection that owns it feeds what it reads to receive(), writes what
// takeOutput() gives, and answers the requests its Handler is told about.
//
//   ServerCodec codec(handler, limits);  // queues our SETTINGS
//   for (;;) {
//     std::string out;
//     codec.takeOutput(out);
//     if (!out.empty()) { write(socket, out); continue; }  // all of it before reading more
//     if (!codec.wantsRead()) break;                         // nothing to read or write: close
//     size_t n = read(socket, buffer);
//     if (n == 0) break;
//     if (!codec.receive({buffer, n})) log(...);  // a GOAWAY is queued; wantsRead() is false
//   }
//
// Output also appears after respond(), sendData(), sendTrailers(), resetStream(), consumed()
// and goAway(): an owner whose writer sleeps wakes it when wantsWrite() turns true.
//
// Requests: the Handler hears onRequest() when a request's headers are complete and valid, then
// its body (onRequestData), trailers and end, and onStreamClosed() when the stream is gone.
// Malformed requests never reach it: nghttp2 checks HTTP/2's messaging rules (pseudo-headers,
// connection-specific headers, content-length against the DATA received) and the codec adds a
// few (a Host that disagrees with :authority, a header list over Limits::max_header_list_bytes);
// such a stream is reset or answered 431, and the connection lives on.
//
// Flow control, both ways:
// - Request bodies: the peer may send Limits::stream_window_bytes per stream and
//   Limits::connection_window_bytes in all before the windows are reopened, and they are reopened
//   only by consumed(): a slow upstream stops the client instead of filling memory.
// - Response bodies: sendData() queues at most about Limits::max_outbound_bytes_per_stream per
//   stream (see SendResult); nghttp2 frames from the queue only as far as the peer's windows
//   allow, so a peer that never opens its window holds the queue at that bound.
//
// Back-pressure on the socket: some input makes the codec queue an answer (SETTINGS and PING
// acknowledgements, RST_STREAM for refused streams, WINDOW_UPDATE). nghttp2 bounds the
// acknowledgements (Limits::max_outbound_ack); the rest is bounded by the input of one receive()
// call, so the owner must write what takeOutput() gave before it reads and feeds more.
//
// THREAD: one thread (the connection's). Handler methods are called from inside receive() and
// takeOutput(); they may call the response-side methods (respond, sendData, sendTrailers,
// resetStream, consumed, goAway and the getters) but never receive(), takeOutput() or the
// destructor. Destroying the codec calls no Handler method.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

struct nghttp2_session;

namespace turnpike::proxy::http2 {

// What one connection may cost and how its peer may behave. Each limit is announced to the peer
// where HTTP/2 has a setting for it, and enforced either way.
struct Limits {
  // SETTINGS_MAX_CONCURRENT_STREAMS. Before the peer acknowledges our SETTINGS, streams over it are
  // refused with RST_STREAM(REFUSED_STREAM); a peer that exceeds it after acknowledging it gets
  // GOAWAY(PROTOCOL_ERROR) (nghttp2's rule; RFC 9113 §5.1.2 allows a stream or connection error).
  uint32_t max_concurrent_streams = 100;
  // SETTINGS_MAX_HEADER_LIST_SIZE (name + value + 32 bytes per field, RFC 9113 §6.5.2). A request
  // whose header list is larger is answered 431 and its stream closed; oversized trailers reset
  // the stream with ENHANCE_YOUR_CALM. (nghttp2 itself refuses a field whose name or value is
  // over 64 KiB as sent, before any limit of ours, with GOAWAY(COMPRESSION_ERROR).)
  uint32_t max_header_list_bytes = 64 * 1024;
  // SETTINGS_INITIAL_WINDOW_SIZE: request body bytes one stream may have in flight unconsumed.
  int32_t stream_window_bytes = 256 * 1024;
  // The connection's receive window (at least 65,535): request body bytes in flight unconsumed
  // over all streams.
  int32_t connection_window_bytes = 1024 * 1024;
  // Rapid reset (CVE-2023-44487): a token bucket of RST_STREAM frames the peer may send; when it
  // is empty nghttp2 sends GOAWAY(INTERNAL_ERROR) and accepts no new streams. The codec keeps a
  // second bucket of the same size for streams it resets because the peer broke a rule after the
  // request was handed to the Handler (the "MadeYouReset" variant, CVE-2025-8671, which
  // libnghttp2 1.52 does not count), and sends GOAWAY(ENHANCE_YOUR_CALM) when it is empty.
  uint64_t reset_burst = 1000;
  uint64_t reset_rate_per_s = 33;
  // CONTINUATION frames allowed after one HEADERS (CVE-2024-28182); more is a connection error:
  // GOAWAY(ENHANCE_YOUR_CALM).
  size_t max_continuations = 8;
  // Response body bytes queued per stream by sendData() before it asks the caller to wait.
  size_t max_outbound_bytes_per_stream = 256 * 1024;
  // SETTINGS and PING acknowledgements nghttp2 may hold unsent (a peer that sends them faster
  // than it reads the answers), and SETTINGS entries accepted in one frame; more is a connection
  // error: GOAWAY(ENHANCE_YOUR_CALM).
  size_t max_outbound_ack = 1000;
  size_t max_settings = 32;
};

// One header field. Names are lower-case (HTTP/2 requires it of requests; response names given in
// upper case are lower-cased before sending).
struct Header {
  std::string name;
  std::string value;

  bool operator==(const Header&) const = default;
};

// A request's headers, handed over once they are complete and valid.
struct RequestHead {
  int32_t stream_id = 0;
  std::string method;
  std::string scheme;     // empty for CONNECT
  std::string authority;  // :authority, or the Host header when :authority is absent
  std::string path;       // empty for CONNECT
  // The regular fields in arrival order, without pseudo-headers. Cookie crumbs (HTTP/2 lets a
  // client split the cookie header) are joined into one "cookie" field with "; ", as HTTP/1.1
  // needs them (RFC 9113 §8.2.3).
  std::vector<Header> headers;
  bool end_stream = false;  // the HEADERS frame ended the stream: no body or trailers follow
};

// What sendData() did with the bytes it was given.
enum class SendResult : uint8_t {
  kQueued,      // queued; more may be queued now
  kQueuedFull,  // queued, and the stream's queue is now at or over its limit: wait for
                // Handler::onOutputSpace() before queuing more
  kFull,        // nothing queued: the queue was already at its limit (send again after
                // onOutputSpace())
  kClosed,      // nothing queued: the stream is gone or reset, its body has ended, or it has no
                // response body (respond() not called, or called with end_stream)
};

// Whether the first bytes of a plain-text connection are HTTP/2's connection preface ("PRI *
// HTTP/2.0\r\n\r\nSM\r\n\r\n"), for h2c with prior knowledge next to HTTP/1.1 on one listener.
enum class Preface : uint8_t {
  kYes,       // the 24 bytes of the preface (what follows does not matter)
  kNo,        // some byte differs: not HTTP/2 prior knowledge
  kNeedMore,  // a proper prefix of the preface (or empty): read more and ask again
};
Preface matchPreface(std::string_view first_bytes);

class ServerCodec {
 public:
  // Implemented by the connection that owns the codec. Called from inside receive() and
  // takeOutput() only, never from other methods. `stream` is the HTTP/2 stream id.
  class Handler {
   public:
    virtual ~Handler() = default;
    // A request's headers are complete and valid. Exactly once per stream the Handler hears of;
    // every later call about the stream comes after it.
    virtual void onRequest(RequestHead head) = 0;
    // Request body bytes, in order. They hold the peer's flow-control windows shut until the
    // Handler passes their count to consumed(). `data` is valid during the call only.
    virtual void onRequestData(int32_t stream, std::string_view data) = 0;
    // The request's trailers (the HEADERS frame that ends the stream); onRequestEnd() follows.
    virtual void onRequestTrailers(int32_t stream, std::vector<Header> trailers) = 0;
    // The peer ended the request (END_STREAM). Once per complete request, also right after
    // onRequest() when head.end_stream.
    virtual void onRequestEnd(int32_t stream) = 0;
    // The stream is gone: `error_code` is NO_ERROR when both sides ended it (or the response
    // ended it early, see respond()), else the code it was reset with by either side (CANCEL
    // from a client that gave up, PROTOCOL_ERROR for a request found malformed after
    // onRequest(), REFUSED_STREAM for one above the last stream id of our GOAWAY...). Stop all
    // work on it; the codec forgets it. Only for streams that had onRequest().
    virtual void onStreamClosed(int32_t stream, uint32_t error_code) = 0;
    // The stream's queued response body dropped below Limits::max_outbound_bytes_per_stream
    // after sendData() returned kQueuedFull or kFull: more may be queued. Called from
    // takeOutput() after its frames are made.
    virtual void onOutputSpace(int32_t stream) = 0;
  };

  // Starts a session and queues our SETTINGS and the connection window's WINDOW_UPDATE.
  // `handler` must outlive the codec. Limits out of HTTP/2's ranges are clamped.
  ServerCodec(Handler& handler, const Limits& limits);
  ~ServerCodec();
  ServerCodec(const ServerCodec&) = delete;
  ServerCodec& operator=(const ServerCodec&) = delete;

  // Feeds bytes read from the peer, cut anywhere (a frame header cut at the end is held, at most
  // 8 bytes, until the next call); Handler methods are called from here. Returns false when the
  // codec found a connection error it answers itself (not the client preface, a CONTINUATION or
  // acknowledgement flood, out of memory): a GOAWAY is queued, later input is ignored; write what
  // takeOutput() gives, then close. Protocol errors that nghttp2 answers (a bad frame) return true
  // and queue a GOAWAY that makes wantsRead() false once it is taken: the owner's loop ends the
  // same way.
  [[nodiscard]] bool receive(std::string_view bytes);

  // Appends to `out` the frames that can be sent now, stopping once it appended at least
  // `max_bytes` (so it may append up to one frame more, at most 16 KiB of DATA or one header
  // block). Appends nothing when nothing can be sent: DATA waits for the peer's windows and for
  // sendData(). Calls onOutputSpace() and onStreamClosed() for what the frames made happen.
  void takeOutput(std::string& out, size_t max_bytes = 64 * 1024);

  // Whether the codec reads more: false after a connection error, after a GOAWAY has been sent
  // or received and no stream is left, or when the peer's GOAWAY ended the connection.
  bool wantsRead() const;
  // Whether takeOutput() would append something now. Both false: the connection is done, close
  // it.
  bool wantsWrite() const;

  // Submits the response's HEADERS: `status` (100-999, not 101) and `headers` (lower-case
  // names; connection, keep-alive, proxy-connection, transfer-encoding, upgrade, te other than
  // "trailers", the names the connection header lists and pseudo-headers are dropped, as HTTP/2
  // forbids them). A 1xx status is informational: respond() again for the final one. Otherwise
  // with end_stream the response is complete; without it sendData()/sendTrailers() give the
  // body. A response complete before the request is sends RST_STREAM(NO_ERROR) after it: the
  // client stops uploading (RFC 9113 §8.1) and the stream closes. False, and nothing sent, when
  // the stream is gone or already has a final response. A header block that nghttp2 cannot send
  // (over 64 KiB) resets the stream with INTERNAL_ERROR.
  bool respond(int32_t stream, int status, const std::vector<Header>& headers, bool end_stream);

  // Queues response body bytes after respond(..., end_stream = false); end_stream ends the body
  // (and the stream) once the queue is sent. Accepts the whole of `data` whenever the queue is
  // below its limit, so the queue may exceed Limits::max_outbound_bytes_per_stream by one call's
  // bytes; after kQueuedFull or kFull the caller waits for Handler::onOutputSpace().
  [[nodiscard]] SendResult sendData(int32_t stream, std::string_view data, bool end_stream);

  // Ends the response body with trailers, sent once the queued body is. Only after respond(...,
  // end_stream = false) and before the body ended; false otherwise (nothing sent).
  bool sendTrailers(int32_t stream, const std::vector<Header>& trailers);

  // Response body bytes of `stream` queued and not yet framed (0 for an unknown stream).
  size_t queuedBytes(int32_t stream) const;

  // Resets the stream with `error_code` (e.g. CANCEL, INTERNAL_ERROR): its queued body is
  // dropped, later request data for it is discarded, onStreamClosed() follows once the
  // RST_STREAM is sent. Nothing happens for an unknown or closed stream.
  void resetStream(int32_t stream, uint32_t error_code);

  // The Handler is done with `bytes` of the stream's request body: the stream's and the
  // connection's receive windows reopen by that much (a WINDOW_UPDATE goes out once half a window
  // is consumed). Bytes of a closed stream are returned by the codec itself; consumed() for it
  // does nothing.
  void consumed(int32_t stream, size_t bytes);

  // Graceful drain: sends GOAWAY(NO_ERROR) with the last stream id the codec accepted. Open
  // streams finish; the peer retries the requests it sent above that id on a new connection.
  // wantsRead() and wantsWrite() turn false once no stream is left and the GOAWAY is sent.
  void goAway();

  // Streams the Handler has heard of (onRequest) and not yet seen closed.
  size_t openStreams() const;

  // Memory the connection holds now: nghttp2's own allocations (streams, queued frames, header
  // tables), queued response bodies and header lists being received; not the codec's small
  // per-stream records (at most max_concurrent_streams of them). For tests and metrics.
  size_t memoryInUse() const;

 private:
  struct Stream;
  struct Callbacks;  // nghttp2's C callbacks
  struct Memory;     // nghttp2's allocator for this session, counting what it holds

  Stream* find(int32_t stream);
  const Stream* find(int32_t stream) const;
  void fail(uint32_t error_code);
  void countServerReset();
  void finishRequestHeaders(int32_t stream_id, bool end_stream);
  void answerTooLarge(int32_t stream_id);
  void flushDeferredConsumption();
  // How much of `bytes` (the input after what came before) ends on a whole frame header; the
  // rest starts a frame header. Follows the frame lengths in preface_left_ and payload_left_.
  size_t wholeFrameHeaders(std::string_view bytes);

  Handler& handler_;
  Limits limits_;
  std::unique_ptr<Memory> memory_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  size_t announced_streams_ = 0;
  size_t queued_total_ = 0;
  size_t header_bytes_total_ = 0;
  size_t deferred_connection_consumed_ = 0;
  // Where the input is in the peer's frames: preface bytes still to come, payload bytes left in
  // the current frame, and the start of a frame header kept back for the next receive().
  size_t preface_left_ = 24;  // the client preface's length
  size_t payload_left_ = 0;
  std::string held_header_;
  bool failed_ = false;  // reads nothing more (a connection error, or the session is broken)
  bool broken_ = false;  // the session cannot make output either
  bool in_send_ = false;
  bool goaway_ = false;        // goAway() was called
  bool reset_goaway_ = false;  // the MadeYouReset bucket ran dry and sent its GOAWAY
  // Events of takeOutput(), told to the Handler after nghttp2_session_mem_send() returns.
  std::vector<std::pair<int32_t, uint32_t>> closed_during_send_;
  std::vector<int32_t> space_during_send_;
  // The MadeYouReset bucket (Limits::reset_burst, reset_rate_per_s).
  double reset_tokens_ = 0;
  std::chrono::steady_clock::time_point reset_refilled_;
};

}  // namespace turnpike::proxy::http2
