#!/usr/bin/python3
"""Both ends of a WebSocket for the tests, on the `websockets` library (Debian's
python3-websockets): a real client and a real server, so that Turnpike relays a handshake and
frames that it did not write itself.

  websocket_peer.py serve
      Echo server on 127.0.0.1, on a free port that it prints first ("PORT 40123"). Every
      message comes back as it was sent. On the path /hello the first message is the
      handshake's request headers as a JSON object (names lower-case), then it echoes.
      bench/bench.py's scenario 14 runs it too, as its echo server.

  websocket_peer.py client URL --messages N [--size S] [--interval-ms T] [--header K:V]...
                    [--hello] [--hold-ms T]
      Sends N text messages of S bytes (each different; no compression, so that the bytes on
      the wire are the messages), T ms apart, and checks each echo. With
      --hello, reads the server's first message first. --hold-ms keeps the connection open,
      silent, that long after the last echo. Prints one JSON line: {"ok": true, "rtt_ms": [...],
      "hello": {...}} or {"ok": false, "error": "..."} (then exits with 1).
"""
import argparse
import asyncio
import json
import sys
import time

import websockets


async def serve():
    async def handler(websocket, path=None):
        path = path if path is not None else websocket.path
        if path == "/hello":
            headers = {name.lower(): value for name, value in websocket.request_headers.raw_items()}
            await websocket.send(json.dumps(headers))
        async for message in websocket:
            await websocket.send(message)

    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.Future()


async def client(args):
    headers = [tuple(h.split(":", 1)) for h in args.header]
    result = {"ok": False, "rtt_ms": []}
    try:
        async with websockets.connect(
            args.url, extra_headers=headers, max_size=None, open_timeout=10, close_timeout=5,
            compression=None,
        ) as websocket:
            if args.hello:
                result["hello"] = json.loads(await asyncio.wait_for(websocket.recv(), 10))
            for i in range(args.messages):
                message = (f"{i}:" + "x" * args.size)[: max(args.size, len(str(i)) + 1)]
                started = time.monotonic()
                await websocket.send(message)
                echo = await asyncio.wait_for(websocket.recv(), 10)
                result["rtt_ms"].append((time.monotonic() - started) * 1000)
                if echo != message:
                    raise RuntimeError(f"message {i} came back changed")
                if args.interval_ms:
                    await asyncio.sleep(args.interval_ms / 1000)
            if args.hold_ms:
                await asyncio.sleep(args.hold_ms / 1000)
        result["ok"] = True
    except Exception as error:  # the test reads the reason
        result["error"] = f"{type(error).__name__}: {error}"
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("serve")
    c = sub.add_parser("client")
    c.add_argument("url")
    c.add_argument("--messages", type=int, default=1)
    c.add_argument("--size", type=int, default=16)
    c.add_argument("--interval-ms", type=int, default=0)
    c.add_argument("--hold-ms", type=int, default=0)
    c.add_argument("--header", action="append", default=[])
    c.add_argument("--hello", action="store_true")
    args = parser.parse_args()
    if args.mode == "serve":
        asyncio.run(serve())
        return 0
    return asyncio.run(client(args))


if __name__ == "__main__":
    sys.exit(main())
