#!/usr/bin/python3
"""WebSocket echo round trips for bench/bench.py (scenario 14), run as a process of its own so
that its CPU is neither the driver's nor the echo server's.

  websocket_rtt.py URL --connections C (--messages N | --seconds S) [--size B] [--warmup W]

Opens C connections to URL (ws://host:port/path) with a plain HTTP/1.1 upgrade handshake, sends
W unrecorded round trips on each, then on every connection in turn: one binary message of B
bytes (default 64; the first 8 are a sequence number, so a stale or reordered echo is caught),
wait for its echo, check it, send the next. With C = 1 that is N sequential round trips (or as
many as fit in S seconds); with C > 1 the connections run side by side in one select() loop,
each sequential, for S seconds (or until N in all). Prints one JSON line:

  {"ok": true, "connections": C, "round_trips": n, "warmup_round_trips": W * C, "seconds": s,
   "round_trips_per_s": n / s, "rtt_us": {"mean", "p50", "p90", "p99", "p999", "max"},
   "cpu_s": the client's CPU (user + system) over the timed part}

  websocket_rtt.py URL1 URL2 ... --messages N [--size B] [--warmup W]

One connection to each URL, and N sequential round trips on each, interleaved: every cycle
makes one round trip on each connection, in a new (seeded) random order, so that a burst of
the machine's other work falls on every URL alike instead of on whichever ran at the time.
Prints {"ok": true, "interleaved": true, "seconds": s, "urls": {URL: {"round_trips": N,
"warmup_round_trips": W, "rtt_us": {...}}, ...}}.

Either way, on failure: {"ok": false, "error": "..."} and exit status 1.

Standard library only, and cheap on purpose: a client frame is the payload XORed with a fixed
random mask (RFC 6455 section 5.3) and sent in one send(); the echo is parsed straight from the
socket's bytes. A Python asyncio client on the `websockets` library costs several times more CPU
per round trip, and on two cores that CPU is taken from the proxy under test. Pings from the
server are answered; permessage-deflate is never offered, so the bytes on the wire are the
messages.
"""

import argparse
import base64
import json
import os
import random
import resource
import selectors
import socket
import struct
import sys
import time
from urllib.parse import urlsplit

OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x2, 0x8, 0x9, 0xA


class Connection:
    """One client connection: the handshake, masked frames out, the server's frames in."""

    def __init__(self, host, port, path, size, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.size = size
        self.mask = os.urandom(4)
        self.mask_int = int.from_bytes((self.mask * (size // 4 + 1))[:size], "big")
        self.filler = b"x" * (size - 8)
        self.seq = 0
        self.expected = b""
        self.sent_ns = 0
        self.inbuf = bytearray()
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        while b"\r\n\r\n" not in self.inbuf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("the connection closed during the handshake")
            self.inbuf += chunk
        head, _, rest = bytes(self.inbuf).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"handshake answered {head.splitlines()[0]!r}")
        self.inbuf = bytearray(rest)

    def _frame(self, opcode, payload):
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        if n == self.size:
            masked = (int.from_bytes(payload, "big") ^ self.mask_int).to_bytes(n, "big")
        else:  # a pong's payload: rare
            masked = bytes(b ^ self.mask[i % 4] for i, b in enumerate(payload))
        return header + self.mask + masked

    def send_next(self):
        """Sends the next message and notes when."""
        self.seq += 1
        self.expected = struct.pack("!Q", self.seq) + self.filler
        frame = self._frame(OP_BINARY, self.expected)
        self.sent_ns = time.perf_counter_ns()
        self.sock.sendall(frame)

    def take_echo(self):
        """Parses the frames received so far: True once the echo of the last message is in
        (checked), False while it is incomplete. Answers pings on the way."""
        while True:
            buf = self.inbuf
            if len(buf) < 2:
                return False
            first, opcode, n = buf[0], buf[0] & 0x0F, buf[1] & 0x7F
            offset = 2
            if buf[1] & 0x80:
                raise RuntimeError("the server sent a masked frame")
            if n == 126:
                if len(buf) < 4:
                    return False
                n, offset = struct.unpack_from("!H", buf, 2)[0], 4
            elif n == 127:
                if len(buf) < 10:
                    return False
                n, offset = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < offset + n:
                return False
            payload = bytes(buf[offset:offset + n])
            del buf[:offset + n]
            if opcode == OP_PING:
                self.sock.sendall(self._frame(OP_PONG, payload))
                continue
            if opcode == OP_CLOSE:
                raise RuntimeError(f"the server closed the connection: {payload!r}")
            if opcode == OP_PONG:
                continue
            if first != 0x80 | OP_BINARY or payload != self.expected:
                raise RuntimeError(f"message {self.seq} came back changed (frame byte "
                                   f"{first:#x}, {n} bytes)")
            return True

    def receive(self):
        """One recv() into the buffer; a closed connection is an error."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        self.inbuf += chunk

    def round_trip(self):
        """One sequential round trip (blocking): its time in nanoseconds."""
        self.send_next()
        while not self.take_echo():
            self.receive()
        return time.perf_counter_ns() - self.sent_ns

    def close(self):
        try:
            self.sock.sendall(self._frame(OP_CLOSE, b""))
        except OSError:
            pass
        self.sock.close()


def percentile(ordered, q):
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def rtt_summary(rtts_ns):
    ordered = sorted(r / 1000 for r in rtts_ns)
    return {"mean": sum(ordered) / len(ordered), "p50": percentile(ordered, 0.50),
            "p90": percentile(ordered, 0.90), "p99": percentile(ordered, 0.99),
            "p999": percentile(ordered, 0.999), "max": ordered[-1]}


def connect(url, args):
    parts = urlsplit(url)
    if parts.scheme != "ws" or not parts.port:
        raise RuntimeError(f"{url}: expected ws://host:port/path")
    return Connection(parts.hostname, parts.port, parts.path or "/", args.size, args.timeout)


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one_url(args):
    """--connections connections to the one URL, each sequential."""
    conns = [connect(args.urls[0], args) for _ in range(args.connections)]
    for conn in conns:
        for _ in range(args.warmup):
            conn.round_trip()

    rtts = []
    deadline = time.perf_counter_ns() + int(args.seconds * 1e9) if args.seconds else None
    limit = args.messages or None
    cpu_before = cpu_seconds()
    started = time.perf_counter_ns()
    if len(conns) == 1:
        conn = conns[0]
        while (limit is None or len(rtts) < limit) and (
                deadline is None or time.perf_counter_ns() < deadline):
            rtts.append(conn.round_trip())
    else:
        selector = selectors.DefaultSelector()
        for conn in conns:
            selector.register(conn.sock, selectors.EVENT_READ, conn)
            conn.send_next()
        running = len(conns)
        while running:
            events = selector.select(args.timeout)
            if not events:
                raise RuntimeError(f"no echo within {args.timeout} s")
            for key, _ in events:
                conn = key.data
                conn.receive()
                if not conn.take_echo():
                    continue
                now = time.perf_counter_ns()
                rtts.append(now - conn.sent_ns)
                if (limit is not None and len(rtts) >= limit) or (
                        deadline is not None and now >= deadline):
                    selector.unregister(conn.sock)
                    running -= 1
                else:
                    conn.send_next()
        selector.close()
    elapsed = (time.perf_counter_ns() - started) / 1e9
    cpu = cpu_seconds() - cpu_before
    for conn in conns:
        conn.close()
    if not rtts:
        raise RuntimeError("no round trip completed")
    return {"ok": True, "connections": len(conns), "round_trips": len(rtts),
            "warmup_round_trips": args.warmup * len(conns), "seconds": elapsed,
            "round_trips_per_s": len(rtts) / elapsed if elapsed > 0 else 0.0,
            "rtt_us": rtt_summary(rtts), "cpu_s": cpu}


def run_interleaved(args):
    """One connection to each URL; --messages round trips on each, one URL at a time in a new
    random order every cycle, so that whatever else the machine does falls on all alike."""
    conns = [connect(url, args) for url in args.urls]
    order = list(range(len(conns)))
    rng = random.Random(0)
    for _ in range(args.warmup):
        for i in order:
            conns[i].round_trip()
    rtts = [[] for _ in conns]
    started = time.perf_counter_ns()
    for _ in range(args.messages):
        rng.shuffle(order)
        for i in order:
            rtts[i].append(conns[i].round_trip())
    elapsed = (time.perf_counter_ns() - started) / 1e9
    for conn in conns:
        conn.close()
    return {"ok": True, "interleaved": True, "seconds": elapsed,
            "urls": {url: {"round_trips": len(r), "warmup_round_trips": args.warmup,
                           "rtt_us": rtt_summary(r)} for url, r in zip(args.urls, rtts)}}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("urls", nargs="+", metavar="url")
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--messages", type=int, default=0, help="round trips in all (0: no limit)")
    p.add_argument("--seconds", type=float, default=0, help="stop after S seconds (0: none)")
    p.add_argument("--size", type=int, default=64, help="message bytes, at least 8")
    p.add_argument("--warmup", type=int, default=0, help="unrecorded round trips per connection")
    p.add_argument("--timeout", type=float, default=10, help="seconds any wait may take")
    args = p.parse_args()
    if args.size < 8 or args.connections < 1 or not (args.messages or args.seconds):
        p.error("--size >= 8, --connections >= 1, and --messages or --seconds")
    if len(args.urls) > 1 and (args.connections != 1 or not args.messages or args.seconds
                               or len(set(args.urls)) < len(args.urls)):
        p.error("several URLs: different ones, one connection each, --messages, no --seconds")
    try:
        result = run_one_url(args) if len(args.urls) == 1 else run_interleaved(args)
    except (OSError, RuntimeError) as error:
        print(json.dumps({"ok": False, "error": f"{type(error).__name__}: {error}"}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
