#!/usr/bin/python3
"""Turnpike's benchmark driver (run it through ./scripts/bench, which installs and builds first).

Starts, on free loopback ports and as the current user, with configs, logs and pid files in one
temporary directory:
  upstream   Debian nginx serving fixed bodies (100 B, 1 MiB) and accepting 1 MiB POSTs
  nginx      Debian nginx as a reverse proxy to the upstream (the comparison), access_log off
  turnpike   `turnpike serve --access-log off`, configured through the admin API with curl
  nginx-logged, turnpike-logged   the same two as shipped: nginx's access_log to a file (its
             default format), Turnpike's default access log (JSON lines on standard output,
             which the harness sends to a file); scenarios 1 to 4 and 14 run these too
  websocket-echo   scenario 14 only: tests/support/websocket_peer.py serve, a WebSocket echo
             server on Debian's python3-websockets, in a process of its own
and drives them with wrk in interleaved rounds (turnpike, nginx, direct, turnpike, ...), so that
the noise of a shared machine falls on every target alike. Scenario numbers follow issue 6:

  1  100 B GET, plain proxying            5  10 routes vs 10,000 routes in the snapshot
  2  1 + API-key auth + rate-limit policy 6  snapshot build time and memory (1k, 10k, 100k)
  3  1 MiB GET responses                  7  admin write -> proxy propagation (200 writes)
  4  1 MiB POST bodies                    8  added p99 latency at ~half the peak rate
  9  a three-backend aggregate route against the same three calls made one after another, and
     its CPU per call against three plain proxied requests'
 10  100 B GET over HTTPS, kept-alive connections (turnpike-tls against nginx-tls: the same
     ECDSA P-256 certificate, protocols, ciphers and groups on both)
 11  new TLS connections per second: one 100 B request per connection, a full handshake each
 12  1 MiB GET responses over HTTPS (no splicing there: every byte is encrypted)
 13  100 B GET to an HTTPS upstream (plain to the proxy, TLS from the proxy to the upstream,
     verified, kept-alive): turnpike against nginx (proxy_ssl_verify on, the same CA and name)
 14  WebSocket echo round trips of 64 B messages, direct to the echo server and through each
     proxy's WebSocket tunnel: RTT p50/p99 on one connection (sequential), the latency each
     proxy adds over direct, and round trips/s over 16 connections side by side (each
     sequential); the client is bench/websocket_rtt.py, in processes of its own
 15  100 B GET over HTTP/2, h2c with prior knowledge: h2load against Turnpike's plain listener
     (turnpike-h2c) and nginx's `listen ... http2` server (nginx-h2c), 16 connections of 10
     streams each, one h2load thread; each proxy goes on to the upstream over HTTP/1.1
 16  the same over TLS, h2 by ALPN (turnpike-h2 on Turnpike's TLS listener, nginx-h2 on
     `listen ... ssl http2` with scenario 10's certificate, protocols and ciphers)

Prints a table and writes JSON (default <build-dir>/bench-results.json, or $OUT). The exit
status is 1 when the harness itself misbehaved (a wrk run with no requests, socket errors or
unexpected statuses, a target answering wrongly, a helper failing); never because of speed.
Python standard library only (Debian's python3); scenario 14's echo server is the one
process that needs python3-websockets, scenarios 15 and 16 need h2load (Debian's
nghttp2-client; ./scripts/bench installs both).
"""

import argparse
import ctypes
import json
import os
import platform
import pwd
import grp
import re
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
WRK_SCRIPT = BENCH_DIR / "wrk" / "bench.lua"

SMALL_BODY = 100
LARGE_BODY = 1024 * 1024
# Turnpike's TLS 1.2 suites (proxy/tls/server_context.cc), for nginx's TLS server too.
TLS12_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                 "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
FORBIDDEN_PORTS = {80, 443, 8000, 8001}
ALL_SCENARIOS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
TLS_SCENARIOS = [10, 11, 12]
UPSTREAM_TLS_SCENARIOS = [13]
WEBSOCKET_SCENARIOS = [14]
H2C_SCENARIOS = [15]  # h2load with prior knowledge to both plain listeners
H2_TLS_SCENARIOS = [16]  # h2load over TLS, h2 by ALPN
SHIPPED_SCENARIOS = [1, 2, 3, 4, 14]  # also run with both access logs on

TITLES = {
    1: "100 B GET, plain proxying",
    2: "100 B GET + API-key auth + rate limit",
    3: "1 MiB GET responses",
    4: "1 MiB POST bodies",
    5: "10 routes vs 10,000 routes",
    6: "snapshot build time and memory",
    7: "admin write -> proxy propagation",
    8: "added latency at ~half of the peak rate",
    9: "3-backend aggregate vs 3 sequential calls",
    10: "100 B GET over HTTPS, keep-alive",
    11: "new TLS connections (1 request each)",
    12: "1 MiB GET over HTTPS",
    13: "100 B GET to an HTTPS upstream",
    14: "WebSocket echo round trips (64 B)",
    15: "100 B GET over HTTP/2 (h2c, prior knowl.)",
    16: "100 B GET over HTTP/2 + TLS (ALPN h2)",
}
AGGREGATE_PARTS = ["/j/1", "/j/2", "/j/3"]
# Scenario 14: the echo server, the client, and what the client is asked for.
WEBSOCKET_PEER = ROOT / "tests" / "support" / "websocket_peer.py"
WEBSOCKET_CLIENT = BENCH_DIR / "websocket_rtt.py"
WEBSOCKET_PATH = "/ws"
WEBSOCKET_MESSAGE_BYTES = 64
WEBSOCKET_CONNECTIONS = 16
# Scenarios 15 and 16: h2load's load. One h2load thread (it competes for the two cores with
# the servers, as wrk does) with 16 connections of 10 concurrent streams each.
H2_CONNECTIONS = 16
H2_STREAMS = 10
H2_THREADS = 1


class HarnessError(Exception):
    """Something in the harness (not the speed of a target) went wrong."""


def log(message):
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Processes

def _die_with_parent():
    """preexec_fn: the child gets SIGTERM if this driver dies, even by SIGKILL, so that no
    server outlives a benchmark. (nginx's master then stops its own workers.)"""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Server:
    """A server process we started: its pid, its log, and how to measure and stop it."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.log_path = log_path
        self.log_file = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     env=env, preexec_fn=_die_with_parent)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def pids(self):
        """The process and its children (nginx: master + workers)."""
        pids = [self.pid]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.pid:  # ppid
                    pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
        return pids

    def cpu_seconds(self):
        """utime + stime of the process tree (all threads), in seconds."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        return total / ticks

    def reset_peak_rss(self):
        """Resets VmHWM to the current RSS (Linux: write 5 to clear_refs), so that the peak
        measured after a run is that run's. Returns False when the kernel refuses."""
        ok = True
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                ok = False
        return ok

    def _status_kb(self, field):
        """Sum of a /proc/<pid>/status field (e.g. "VmHWM:") over the process tree, in KiB."""
        total_kb = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith(field):
                            total_kb += int(line.split()[1])
            except (OSError, ValueError):
                pass
        return total_kb

    def peak_rss_mb(self):
        """Sum of VmHWM over the process tree, in MiB."""
        return self._status_kb("VmHWM:") / 1024

    def current_rss_mb(self):
        """Sum of VmRSS over the process tree, in MiB."""
        return self._status_kb("VmRSS:") / 1024

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()

    def tail(self, lines=20):
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port():
    """A loopback port nobody listens on. The bind has no SO_REUSEPORT, so it also fails on a
    port a stale SO_REUSEPORT server holds (which would otherwise share our traffic)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in FORBIDDEN_PORTS:
            return port
    raise HarnessError("no free loopback port")


def http(method, url, body=None, headers=None, timeout=10):
    """One HTTP request with urllib: (status, body bytes). Used for readiness and sanity checks
    only, never for load."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    # The TLS targets present the bench's own self-signed certificate.
    context = ssl._create_unverified_context() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_until(what, condition, server, timeout=15):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not server.alive():
            raise HarnessError(f"{server.name} exited while starting:\n{server.tail()}")
        try:
            if condition():
                return
        except (OSError, urllib.error.URLError) as e:
            last = e
        time.sleep(0.05)
    raise HarnessError(f"{what} not ready after {timeout} s ({last}):\n{server.tail()}")


def run_tool(argv, timeout, env=None):
    """Runs a helper to completion; returns stdout. A non-zero exit is a harness error."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                          preexec_fn=_die_with_parent)
    if proc.returncode != 0:
        raise HarnessError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout


# --------------------------------------------------------------------------------------------
# The servers under test

def render(template, out_path, values):
    text = Path(template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    leftover = re.findall(r"@[A-Z_0-9]+@", text)
    if leftover:
        raise HarnessError(f"{template}: unfilled placeholders {leftover}")
    Path(out_path).write_text(text)


def user_directive():
    """nginx started by root switches its workers to `nobody` unless told otherwise; every
    process of the bench runs as the current user. (For other users nginx cannot switch and
    warns about the directive, so it is left out.)"""
    if os.geteuid() != 0:
        return "# (not root: workers run as the current user)"
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {user} {group};"


class Stack:
    """Every process of one benchmark run, in one temporary directory."""

    def __init__(self, args):
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="turnpike-bench."))
        self.servers = []
        self.token = "bench-" + secrets.token_hex(16)
        self.turnpike_bin = Path(args.build_dir) / "app" / "turnpike"
        self.upstream_port = free_port()
        self.upstream_tls_port = free_port()  # scenario 13: the upstream's TLS server
        self.nginx_port = free_port()
        self.nginx_logged_port = free_port()
        self.nginx_tls_port = free_port()
        self.nginx_h2c_port = free_port()  # scenario 15: nginx's `listen ... http2`
        self.nginx_h2_tls_port = free_port()  # scenario 16: nginx's `listen ... ssl http2`
        self.tls = None  # (certificate, key) paths once made
        self.turnpike = None  # main Turnpike: base routes + 10 /r/ routes
        self.turnpike_10k = None  # scenario 5 only: base routes + 10,000 /r/ routes
        self.turnpike_logged = None  # as shipped: the default access log on
        self.nginx_logged = None  # as shipped: access_log to a file
        self.websocket_echo = None  # scenario 14: the echo server, on websocket_port
        self.websocket_port = None

    # ---- lifecycle

    def make_certificate(self):
        """One ECDSA P-256 certificate for both TLS targets, made with the openssl tool."""
        cert, key = self.dir / "bench-cert.pem", self.dir / "bench-key.pem"
        run_tool(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                  "-days", "2", "-subj", "/CN=bench.local",
                  "-addext", "subjectAltName=DNS:bench.local"], timeout=30)
        self.tls = (cert, key)

    def nginx_tls_server(self):
        """nginx's TLS server block: Turnpike's protocols, TLS 1.2 suites, groups and server
        preference, session tickets on (nginx's default) and no session cache (Turnpike keeps
        none), in front of the same upstream."""
        cert, key = self.tls
        return f"""
    server {{
        listen 127.0.0.1:{self.nginx_tls_port} ssl backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {TLS12_CIPHERS};
        ssl_prefer_server_ciphers on;
        ssl_ecdh_curve X25519:prime256v1;
        ssl_session_tickets on;
        location / {{
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffers 8 64k;
            proxy_busy_buffers_size 128k;
            proxy_max_temp_file_size 0;
        }}
    }}"""

    def nginx_h2_servers(self, h2c, h2_tls):
        """nginx's HTTP/2 server blocks (scenarios 15 and 16), each on a port of its own so
        that the HTTP/1.1 scenarios' servers stay as they were: h2c with prior knowledge
        (nginx 1.22: `listen ... http2` without ssl), and h2 by ALPN with scenario 10's TLS
        settings. Scenario 1's location, to the same upstream, but through an upstream block
        that keeps up to 128 idle connections per worker, as Turnpike's pool does per worker
        (ProxyOptions::max_idle_upstream): h2load's 160 concurrent streams are more than
        scenario 1's `keepalive 64`, so with it nginx would close and reopen upstream
        connections under this load. keepalive_requests (the http block's) also bounds the
        requests of an HTTP/2 connection (its default, 1,000, would end h2load's connections
        mid-run)."""
        if not (h2c or h2_tls):
            return ""
        upstream = f"""
    upstream bench_upstream_h2 {{
        server 127.0.0.1:{self.upstream_port};
        keepalive 128;
        keepalive_requests 100000000;
    }}"""
        location = """
        location / {
            proxy_pass http://bench_upstream_h2;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffers 8 64k;
            proxy_busy_buffers_size 128k;
            proxy_max_temp_file_size 0;
        }"""
        blocks = [upstream]
        if h2c:
            blocks.append(f"""
    server {{
        listen 127.0.0.1:{self.nginx_h2c_port} http2 backlog=4096;{location}
    }}""")
        if h2_tls:
            cert, key = self.tls
            blocks.append(f"""
    server {{
        listen 127.0.0.1:{self.nginx_h2_tls_port} ssl http2 backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {TLS12_CIPHERS};
        ssl_prefer_server_ciphers on;
        ssl_ecdh_curve X25519:prime256v1;
        ssl_session_tickets on;{location}
    }}""")
        return "".join(blocks)

    def upstream_tls_server(self):
        """The upstream's TLS server (scenario 13): the same 100-byte body, the bench's
        certificate."""
        cert, key = self.tls
        body = "x" * (SMALL_BODY - 1) + "\\n"  # as BODY_100: nginx turns \\n into a newline
        return f"""
    server {{
        listen 127.0.0.1:{self.upstream_tls_port} ssl backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            default_type text/plain;
            return 200 "{body}";
        }}
    }}"""

    def nginx_tls_upstream(self):
        """nginx's way to the TLS upstream (scenario 13): kept-alive connections, the
        certificate verified against the bench's own, as Turnpike's service does."""
        cert, _ = self.tls
        block = f"""
    upstream bench_tls_upstream {{
        server 127.0.0.1:{self.upstream_tls_port};
        keepalive 64;
        keepalive_requests 100000000;
    }}"""
        location = f"""
        location /tls-up/ {{
            proxy_pass https://bench_tls_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {cert};
            proxy_ssl_name bench.local;
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;
        }}"""
        return block, location

    def nginx_websocket(self):
        """nginx's way to the echo server (scenario 14): the upgrade passed on as nginx's
        documentation has it (its WebSocket proxying page), a tunnel from the 101 on."""
        block = f"""
    upstream bench_websocket_echo {{
        server 127.0.0.1:{self.websocket_port};
    }}"""
        location = f"""
        location {WEBSOCKET_PATH} {{
            proxy_pass http://bench_websocket_echo;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }}"""
        return block, location

    def start_websocket_echo(self):
        """tests/support/websocket_peer.py serve: it prints the port it took first."""
        server = Server("websocket-echo", ["/usr/bin/python3", str(WEBSOCKET_PEER), "serve"],
                        self.dir / "websocket-echo.log")
        self.servers.append(server)

        def port_printed():
            m = re.match(r"PORT (\d+)", Path(server.log_path).read_text(errors="replace"))
            if m:
                self.websocket_port = int(m.group(1))
            return m is not None
        wait_until("the WebSocket echo server", port_printed, server)
        self.websocket_echo = server
        return server

    def start_nginx(self, name, template, port, access_log="off", tls=False, upstream_tls=False,
                    websocket=False, h2c=False, h2_tls=False):
        conf = self.dir / f"{name}.conf"
        values = {
            "DIR": self.dir, "WORKERS": self.args.workers, "USER_DIRECTIVE": user_directive(),
            "UPSTREAM_PORT": self.upstream_port, "PROXY_PORT": port, "ACCESS_LOG": access_log,
            "TLS_SERVER": self.nginx_tls_server() if tls else "",
            "UPSTREAM_TLS_SERVER": self.upstream_tls_server() if upstream_tls else "",
            "TLS_UPSTREAM_BLOCK": self.nginx_tls_upstream()[0] if upstream_tls else "",
            "TLS_UPSTREAM_LOCATION": self.nginx_tls_upstream()[1] if upstream_tls else "",
            "WEBSOCKET_UPSTREAM_BLOCK": self.nginx_websocket()[0] if websocket else "",
            "WEBSOCKET_LOCATION": self.nginx_websocket()[1] if websocket else "",
            "H2_SERVERS": self.nginx_h2_servers(h2c, h2_tls),
            # 99 characters and a newline: the 100-byte body.
            "BODY_100": "x" * (SMALL_BODY - 1) + "\\n",
        }
        render(template, conf, values)
        server = Server(name, ["nginx", "-p", str(self.dir), "-c", str(conf),
                               "-g", "daemon off;"], self.dir / f"{name}.log")
        self.servers.append(server)
        wait_until(f"{name} on port {port}",
                   lambda: http("GET", f"http://127.0.0.1:{port}/ready")[0] == 200, server)
        return server

    def start_turnpike(self, name, access_log_off=True, tls=False):
        """access_log_off=False: the default access log, to standard output (the server's log
        file here), as a user runs it. tls: with the TLS listener too."""
        proxy_port, admin_port = free_port(), free_port()
        env = dict(os.environ, TURNPIKE_ADMIN_TOKEN=self.token)
        env.pop("TURNPIKE_ACCESS_LOG", None)
        argv = [str(self.turnpike_bin), "serve", "--db", str(self.dir / f"{name}.db"),
                "--proxy-listen", f"127.0.0.1:{proxy_port}",
                "--admin-listen", f"127.0.0.1:{admin_port}",
                "--workers", str(self.args.workers), "--log-level", "warn"]
        if access_log_off:
            argv += ["--access-log", "off"]
        tls_port = free_port() if tls else None
        if tls:
            argv += ["--proxy-listen-tls", f"127.0.0.1:{tls_port}"]
        server = Server(name, argv, self.dir / f"{name}.log", env=env)
        server.proxy_port, server.admin_port, server.tls_port = proxy_port, admin_port, tls_port
        self.servers.append(server)
        wait_until(f"{name} admin API", lambda: self.admin(server, "GET", "/status")[0] == 200,
                   server)
        return server

    def start(self, scenarios):
        www = self.dir / "www"
        www.mkdir()
        (www / "1mb.bin").write_bytes(b"a" * LARGE_BODY)
        tls = any(n in scenarios for n in TLS_SCENARIOS)
        upstream_tls = any(n in scenarios for n in UPSTREAM_TLS_SCENARIOS)
        websocket = any(n in scenarios for n in WEBSOCKET_SCENARIOS)
        h2c = any(n in scenarios for n in H2C_SCENARIOS)
        h2_tls = any(n in scenarios for n in H2_TLS_SCENARIOS)
        # Scenario 16 uses Turnpike's TLS listener (its ALPN offers h2) and its certificate.
        turnpike_tls = tls or h2_tls
        if tls or upstream_tls or h2_tls:
            self.make_certificate()
        if websocket:
            self.start_websocket_echo()
        self.upstream = self.start_nginx("upstream", BENCH_DIR / "nginx" / "upstream.conf.in",
                                         self.upstream_port, upstream_tls=upstream_tls)
        self.nginx = self.start_nginx("nginx", BENCH_DIR / "nginx" / "proxy.conf.in",
                                      self.nginx_port, tls=tls, upstream_tls=upstream_tls,
                                      websocket=websocket, h2c=h2c, h2_tls=h2_tls)
        self.turnpike = self.start_turnpike("turnpike", tls=turnpike_tls)
        self.configure_turnpike(self.turnpike, r_routes=10)
        if websocket:
            self.configure_websocket(self.turnpike)
        if upstream_tls:
            cert, _ = self.tls
            self.admin_ok(self.turnpike, "POST", "/services", {
                "name": "bench-tls-upstream",
                "targets": [{"url": f"https://127.0.0.1:{self.upstream_tls_port}"}],
                "tls": {"ca": cert.read_text(), "server_name": "bench.local"}})
            self.admin_ok(self.turnpike, "POST", "/routes?wait_for_proxy=true", {
                "name": "s13-tls-upstream", "service": "bench-tls-upstream",
                "paths": ["/tls-up"], "strip_path": False})
        if turnpike_tls:
            cert, key = self.tls
            self.admin_ok(self.turnpike, "POST", "/certificates?wait_for_proxy=true", {
                "name": "bench", "cert": cert.read_text(), "key": key.read_text(),
                "snis": ["bench.local"], "default": True})
        if any(n in scenarios for n in SHIPPED_SCENARIOS):
            self.nginx_logged = self.start_nginx(
                "nginx-logged", BENCH_DIR / "nginx" / "proxy.conf.in", self.nginx_logged_port,
                access_log=self.dir / "nginx-logged-access.log", websocket=websocket)
            self.turnpike_logged = self.start_turnpike("turnpike-logged", access_log_off=False)
            self.configure_turnpike(self.turnpike_logged, r_routes=10)
            if websocket:
                self.configure_websocket(self.turnpike_logged)
        if 5 in scenarios:
            self.turnpike_10k = self.start_turnpike("turnpike-10k")
            self.configure_turnpike(self.turnpike_10k, r_routes=10000)

    def stop(self):
        for server in reversed(self.servers):
            server.stop()

    # ---- Turnpike's configuration, through the admin API with curl (as the README does)

    def admin(self, server, method, path, body=None):
        """curl against `server`'s admin API: (status, parsed JSON body or None)."""
        argv = ["curl", "-sS", "-X", method, "-o", "-", "-w", "\n%{http_code}",
                "-H", f"Authorization: Bearer {self.token}",
                f"http://127.0.0.1:{server.admin_port}{path}"]
        data = None
        if body is not None:
            data = json.dumps(body)
            argv += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        proc = subprocess.run(argv, input=data, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise OSError(f"curl {method} {path}: {proc.stderr.strip()}")
        text, _, status = proc.stdout.rpartition("\n")
        try:
            parsed = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = None
        return int(status), parsed

    def admin_ok(self, server, method, path, body=None):
        status, parsed = self.admin(server, method, path, body)
        if not 200 <= status <= 299:
            raise HarnessError(f"{server.name}: {method} {path} answered {status}: {parsed}")
        return parsed

    def configure_turnpike(self, server, r_routes):
        """One PUT /config with everything (10,000 routes included: one write, not 10,000),
        then a consumer key, which only a POST can mint."""
        def route(path, **extra):
            return {"service": "bench-upstream", "paths": [path], "strip_path": False, **extra}

        routes = [
            {**route("/s1"), "name": "s1-plain"},
            {**route("/s2"), "name": "s2-key-auth", "auth": {"type": "api_key"},
             "rate_limit_policies": ["bench-never-refuses"]},
            {**route("/1mb"), "name": "s3-1mb"},
            {**route("/upload"), "name": "s4-upload", "methods": ["POST"]},
        ]
        # Scenario 9: one call answered from three backend calls, merged under three groups.
        routes.append({"name": "s9-aggregate", "paths": ["/agg"], "aggregate": {"backends": [
            {"service": "bench-upstream", "path": part, "group": f"part{n}", "required": True}
            for n, part in enumerate(AGGREGATE_PARTS, 1)]}})
        routes += [route(f"/r/{i}") for i in range(r_routes)]
        config = {
            "services": [{"name": "bench-upstream", "targets": [
                {"url": f"http://127.0.0.1:{self.upstream_port}", "weight": 100}]}],
            "routes": routes,
            # A limit no run can reach: the policy is evaluated on every request, never refuses.
            "rate_limit_policies": [{"name": "bench-never-refuses", "limit": 1000000000000,
                                     "window_s": 60, "key_by": "consumer"}],
            "consumers": [{"username": "bench-client"}],
        }
        started = time.monotonic()
        self.admin_ok(server, "PUT", "/config", config)
        put_seconds = time.monotonic() - started
        key = self.admin_ok(server, "POST", "/consumers/bench-client/keys?wait_for_proxy=true")
        server.api_key = key["key"]  # shown once, in this answer; scenario 2 sends it
        # The PUT did not wait; this key write did, and it comes after it: all of it is served.
        status = self.admin_ok(server, "GET", "/status")
        if not status.get("proxy", {}).get("in_sync"):
            raise HarnessError(f"{server.name} not in sync after configuration: {status}")
        # Every build loads the whole configuration from SQLite and builds a snapshot from it:
        # the key's build shows what any admin write costs at this size.
        server.last_build_ms = status["proxy"].get("last_build", {}).get("duration_ms")
        server.config_routes = len(routes)
        server.put_config_s = put_seconds
        server.rss_after_config_mb = server.current_rss_mb()

    def configure_websocket(self, server):
        """Scenario 14: a service to the echo server and a route to it. Nothing else: an
        upgrade needs no setting of its own (README, "WebSocket and other upgrades")."""
        self.admin_ok(server, "POST", "/services", {
            "name": "bench-websocket-echo",
            "targets": [{"url": f"http://127.0.0.1:{self.websocket_port}"}]})
        self.admin_ok(server, "POST", "/routes?wait_for_proxy=true", {
            "name": "s14-websocket", "service": "bench-websocket-echo",
            "paths": [WEBSOCKET_PATH], "strip_path": False})

    # ---- targets

    def url(self, target, path):
        if target == "nginx-tls":
            return f"https://127.0.0.1:{self.nginx_tls_port}{path}"
        if target in ("turnpike-tls", "turnpike-h2"):
            return f"https://127.0.0.1:{self.turnpike.tls_port}{path}"
        if target == "nginx-h2":
            return f"https://127.0.0.1:{self.nginx_h2_tls_port}{path}"
        if target == "nginx-h2c":
            return f"http://127.0.0.1:{self.nginx_h2c_port}{path}"
        port = {"direct": self.upstream_port, "nginx": self.nginx_port,
                "nginx-logged": self.nginx_logged_port}.get(target)
        if port is None:
            port = self.server(target).proxy_port
        return f"http://127.0.0.1:{port}{path}"

    def websocket_url(self, target):
        """Where scenario 14 opens its WebSockets: the echo server itself for direct."""
        if target == "direct":
            return f"ws://127.0.0.1:{self.websocket_port}{WEBSOCKET_PATH}"
        return "ws" + self.url(target, WEBSOCKET_PATH)[len("http"):]

    def server(self, target):
        return {"direct": self.upstream, "nginx": self.nginx, "turnpike": self.turnpike,
                "turnpike-tls": self.turnpike, "nginx-tls": self.nginx,
                "turnpike-h2c": self.turnpike, "nginx-h2c": self.nginx,
                "turnpike-h2": self.turnpike, "nginx-h2": self.nginx,
                "turnpike-10": self.turnpike, "turnpike-plain": self.turnpike,
                "turnpike-10k": self.turnpike_10k,
                "turnpike-logged": self.turnpike_logged,
                "nginx-logged": self.nginx_logged}[target]


# --------------------------------------------------------------------------------------------
# Checks that the harness measures what it says

def check_upload_reads_body(stack):
    """The upstream must have read a whole 1 MiB POST body before it answers (otherwise a proxy
    in front gets its answer while still sending). Send half of a body and expect silence."""
    with socket.create_connection(("127.0.0.1", stack.upstream_port), timeout=5) as s:
        head = (f"POST /upload HTTP/1.1\r\nHost: bench\r\nContent-Length: {LARGE_BODY}\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        s.sendall(head + b"x" * (LARGE_BODY // 2))
        s.settimeout(0.3)
        try:
            early = s.recv(64)
            raise HarnessError(f"upstream answered /upload before the body was complete: {early!r}")
        except socket.timeout:
            pass
        s.settimeout(5)
        s.sendall(b"x" * (LARGE_BODY - LARGE_BODY // 2))
        answer = s.recv(64)
        if not answer.startswith(b"HTTP/1.1 200"):
            raise HarnessError(f"upstream /upload answered {answer!r}")


def check_target(stack, target, spec):
    """One request through `target` before any load: the status and body size a scenario
    expects, so that a misconfigured route fails loudly instead of benchmarking 404s."""
    if spec.get("client") == "h2load":
        return check_h2_target(stack, target, spec)
    path = spec.get("check_path", spec.get("path"))
    body = b"x" * spec["body_bytes"] if spec.get("body_bytes") else None
    headers = dict(spec.get("headers", {}))
    status, data = http(spec.get("method", "GET"), stack.url(target, path), body, headers)
    expected = spec["expect_bytes"]
    if status != 200 or (expected is not None and len(data) != expected):
        raise HarnessError(f"{target} {path}: status {status}, {len(data)} bytes "
                           f"(expected 200 and {expected} bytes): {data[:200]!r}")


# --------------------------------------------------------------------------------------------
# wrk

def run_wrk(stack, target, spec, duration, connections, threads):
    """One wrk run against `target`, measuring the target's server processes (and the
    upstream's) meanwhile. Returns a dict for the JSON. (A spec with "client": "h2load" is
    run by h2load instead: run_h2load.)"""
    if spec.get("client") == "h2load":
        return run_h2load(stack, target, spec, duration, connections, threads)
    env = dict(os.environ)
    env["BENCH_METHOD"] = spec.get("method", "GET")
    env["BENCH_BODY_BYTES"] = str(spec.get("body_bytes", 0))
    env["BENCH_PATH_PREFIX"] = spec.get("path_prefix", "")
    env["BENCH_PATH_COUNT"] = str(spec.get("path_count", 0))
    env["BENCH_DELAY_MS"] = str(spec.get("delay_ms", 0))
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
            "--timeout", "10s", "-s", str(WRK_SCRIPT)]
    for name, value in spec.get("headers", {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(stack.url(target, spec.get("path", "/")))

    server = stack.server(target)
    measured = [server] if server is stack.upstream else [server, stack.upstream]
    peak_reset = all(s.reset_peak_rss() for s in measured)
    cpu_before = [s.cpu_seconds() for s in measured]
    started = time.monotonic()
    out = run_tool(argv, timeout=duration + 60, env=env)
    wall = time.monotonic() - started
    cpu = [s.cpu_seconds() - before for s, before in zip(measured, cpu_before)]

    line = next((l for l in out.splitlines() if l.startswith("BENCH_JSON ")), None)
    if line is None:
        raise HarnessError(f"wrk printed no BENCH_JSON line:\n{out}")
    w = json.loads(line[len("BENCH_JSON "):])
    seconds = w["duration_us"] / 1e6
    lat = w["latency_us"]
    return {
        "target": target,
        "requests": w["requests"],
        "rps": w["requests"] / seconds if seconds > 0 else 0.0,
        "mb_per_s": w["bytes"] / seconds / 1e6 if seconds > 0 else 0.0,
        "latency_ms": {k: lat[k] / 1000 for k in ("mean", "p50", "p90", "p99", "p999", "max")},
        "errors": w["errors"],
        "cpu_s": cpu[0],
        "upstream_cpu_s": cpu[-1],
        "peak_rss_mb": server.peak_rss_mb(),
        "peak_rss_is_per_run": peak_reset,
        "wall_s": wall,
    }


# --------------------------------------------------------------------------------------------
# h2load (scenarios 15 and 16)

def parse_h2load(out):
    """h2load's summary (nghttp2 1.52): the protocol, the request counts, the status classes,
    req/s and the data bytes. A line missing is a harness error."""
    def grab(pattern):
        m = re.search(pattern, out, re.M)
        if not m:
            raise HarnessError(f"h2load output lacks /{pattern}/:\n{out[-2000:]}")
        return m
    protocol = re.search(r"^Application protocol: (\S+)", out, re.M)
    counts = grab(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout")
    codes = grab(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
    total, started, done, succeeded, failed, errored, timeout = map(int, counts.groups())
    return {
        "protocol": protocol.group(1) if protocol else None,
        "rps": float(grab(r"^finished in [\d.]+\w+, ([\d.]+) req/s").group(1)),
        "total": total, "started": started, "done": done, "succeeded": succeeded,
        "failed": failed, "errored": errored, "timeout": timeout,
        "status": dict(zip(("2xx", "3xx", "4xx", "5xx"), map(int, codes.groups()))),
        "data_bytes": int(grab(r"\((\d+)\) data").group(1)),
    }


def h2load_protocol(target):
    """What h2load must have spoken to `target`: h2c in the clear, h2 (by ALPN) over TLS; a
    server that fell back to HTTP/1.1 is not measured as HTTP/2."""
    return "h2" if target.endswith("-h2") else "h2c"


def check_h2_target(stack, target, spec):
    """One h2load request through `target` before any load: HTTP/2 spoken, one 2xx with the
    body size the scenario expects."""
    url = stack.url(target, spec.get("check_path", spec.get("path")))
    h = parse_h2load(run_tool(["h2load", "-n", "1", "-c", "1", url], timeout=30))
    expected = spec["expect_bytes"]
    if (h["protocol"] != h2load_protocol(target) or h["succeeded"] != 1
            or h["status"]["2xx"] != 1 or h["data_bytes"] != expected):
        raise HarnessError(f"{target} {url} over HTTP/2: protocol {h['protocol']} (expected "
                           f"{h2load_protocol(target)}), {h['succeeded']} succeeded, status "
                           f"classes {h['status']}, {h['data_bytes']} data bytes (expected "
                           f"{expected})")


def latency_from_h2load_log(path):
    """Percentiles of the request durations in h2load's --log-file (start time, status,
    duration in µs, tab-separated), answered requests only, in µs."""
    durations = []
    with open(path) as f:
        for line in f:
            fields = line.split("\t")
            if len(fields) >= 3 and fields[1] != "-1":
                durations.append(int(fields[2]))
    durations.sort()
    if not durations:
        return {k: 0.0 for k in ("mean", "p50", "p90", "p99", "p999", "max")}
    def at(q):
        return float(durations[min(len(durations) - 1, int(len(durations) * q))])
    return {"mean": statistics.fmean(durations), "p50": at(0.5), "p90": at(0.9),
            "p99": at(0.99), "p999": at(0.999), "max": float(durations[-1])}


def run_h2load(stack, target, spec, duration, connections, threads):
    """One h2load run (-D: for `duration` seconds) against `target`, measured like a wrk run
    (the target's processes and the upstream's CPU, peak RSS), plus h2load's own CPU. The
    latency comes from h2load's per-request log (its summary has no percentiles)."""
    streams = spec.get("streams", H2_STREAMS)
    log_path = stack.dir / "h2load-requests.log"
    argv = ["h2load", "-c", str(connections), "-m", str(streams), "-t", str(threads),
            "-D", str(duration), "--log-file", str(log_path), stack.url(target, spec["path"])]
    server = stack.server(target)
    measured = [server, stack.upstream]
    peak_reset = all(s.reset_peak_rss() for s in measured)
    cpu_before = [s.cpu_seconds() for s in measured]
    client_before = os.times()
    started = time.monotonic()
    out = run_tool(argv, timeout=duration + 60)
    wall = time.monotonic() - started
    client_after = os.times()
    cpu = [s.cpu_seconds() - before for s, before in zip(measured, cpu_before)]
    h = parse_h2load(out)
    if h["protocol"] != h2load_protocol(target):
        raise HarnessError(f"h2load spoke {h['protocol']} to {target}, expected "
                           f"{h2load_protocol(target)}")
    lat = latency_from_h2load_log(log_path)
    log_path.unlink()
    return {
        "target": target,
        "client": "h2load",
        "requests": h["succeeded"],
        "rps": h["rps"],
        "mb_per_s": h["rps"] * spec["expect_bytes"] / 1e6,
        "latency_ms": {k: v / 1000 for k, v in lat.items()},
        "h2load": h,
        "streams_per_connection": streams,
        "cpu_s": cpu[0],
        "upstream_cpu_s": cpu[1],
        # h2load's own CPU (user + system), from the children's times of this process.
        "client_cpu_s": (client_after.children_user - client_before.children_user
                         + client_after.children_system - client_before.children_system),
        "peak_rss_mb": server.peak_rss_mb(),
        "peak_rss_is_per_run": peak_reset,
        "wall_s": wall,
    }


def run_problems(run, spec):
    """What is wrong with a wrk (or h2load) run, as far as the harness is concerned."""
    problems = []
    if "h2load" in run:
        h = run["h2load"]
        if h["succeeded"] <= 0:
            problems.append("no requests completed")
        if h["failed"] or h["errored"] or h["timeout"]:
            problems.append(f"h2load: {h['failed']} failed, {h['errored']} errored, "
                            f"{h['timeout']} timed out")
        other = h["status"]["3xx"] + h["status"]["4xx"] + h["status"]["5xx"]
        if other > spec.get("allowed_non_2xx", 0):
            problems.append(f"{other} non-2xx answers {h['status']}")
        return problems
    if run["requests"] <= 0:
        problems.append("no requests completed")
    e = run["errors"]
    socket_errors = e["connect"] + e["read"] + e["write"] + e["timeout"]
    if socket_errors:
        problems.append(f"socket errors {e}")
    if e["status"] > spec.get("allowed_non_2xx", 0):
        problems.append(f"{e['status']} non-2xx/3xx answers")
    return problems


def median(values):
    return statistics.median(values) if values else 0.0


def summarize_runs(runs):
    """Per target: medians over the rounds (req/s, latency percentiles, CPU), CPU per request
    over all rounds, the highest peak RSS."""
    total_requests = sum(r["requests"] for r in runs)
    return {
        "rounds": len(runs),
        "rps": median([r["rps"] for r in runs]),
        "rps_min": min(r["rps"] for r in runs),
        "rps_max": max(r["rps"] for r in runs),
        "mb_per_s": median([r["mb_per_s"] for r in runs]),
        "p50_ms": median([r["latency_ms"]["p50"] for r in runs]),
        "p99_ms": median([r["latency_ms"]["p99"] for r in runs]),
        "cpu_s": median([r["cpu_s"] for r in runs]),
        "cpu_us_per_request": (sum(r["cpu_s"] for r in runs) / total_requests * 1e6
                               if total_requests else 0.0),
        "upstream_cpu_s": median([r["upstream_cpu_s"] for r in runs]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


def load_scenario(stack, number, specs, args, report, connections=None, threads=None):
    """`specs`: target -> what to send it, in the order of a round. A check request per target,
    a warm-up, then `rounds` interleaved rounds (A B C A B C ...); returns the runs and their
    per-target summaries."""
    connections = connections or args.connections
    threads = min(threads or args.threads, connections)
    for target, spec in specs.items():
        check_target(stack, target, spec)
    if args.warmup > 0:
        for target, spec in specs.items():
            run_wrk(stack, target, spec, args.warmup, connections, threads)
    runs = {t: [] for t in specs}
    for round_index in range(args.rounds):
        for target, spec in specs.items():
            run = run_wrk(stack, target, spec, args.duration, connections, threads)
            run["round"] = round_index + 1
            runs[target].append(run)
            for problem in run_problems(run, spec):
                report["problems"].append(f"scenario {number}, {target}, round "
                                          f"{round_index + 1}: {problem}")
            log(f"    round {round_index + 1} {target:<15} {run['rps']:>10,.0f} req/s  "
                f"p99 {run['latency_ms']['p99']:.2f} ms  cpu {run['cpu_s']:.2f} s")
    summary = {t: summarize_runs(r) for t, r in runs.items()}
    return {"title": TITLES[number], "connections": connections, "threads": threads,
            "targets": summary, "runs": runs}


def proxy_targets(spec, shipped=False):
    """The three targets of a proxy comparison, sent the same requests; shipped: and the two
    with their access logs on."""
    targets = {"turnpike": spec, "nginx": spec, "direct": spec}
    if shipped:
        targets.update({"turnpike-logged": spec, "nginx-logged": spec})
    return targets


def ratio(a, b):
    return a / b if b else None


def per_round_ratios(runs, a, b):
    """a/b req/s within each round: the two ran seconds apart, under much the same noise."""
    return [ratio(x["rps"], y["rps"]) for x, y in zip(runs[a], runs[b])]


def add_proxy_ratios(result):
    """The median of the per-round ratios (the budget's), and the ratios of the medians."""
    t = result["targets"]
    tp = t["turnpike"]["rps"]
    by_round = per_round_ratios(result["runs"], "turnpike", "nginx")
    if "turnpike-logged" in t:
        shipped = per_round_ratios(result["runs"], "turnpike-logged", "nginx-logged")
        tp_log = per_round_ratios(result["runs"], "turnpike-logged", "turnpike")
        ngx_log = per_round_ratios(result["runs"], "nginx-logged", "nginx")
        result["shipped_ratios"] = {
            "turnpike_vs_nginx": ratio(t["turnpike-logged"]["rps"], t["nginx-logged"]["rps"]),
            "turnpike_vs_nginx_per_round": shipped,
            "turnpike_vs_nginx_median_of_rounds": median(shipped),
            "turnpike_vs_nginx_cpu_per_request": ratio(
                t["turnpike-logged"]["cpu_us_per_request"],
                t["nginx-logged"]["cpu_us_per_request"]),
            # What the access log costs each: 1 - logged / not logged, within each round.
            "turnpike_log_cost": 1 - median(tp_log),
            "nginx_log_cost": 1 - median(ngx_log)}
    result["ratios"] = {"turnpike_vs_nginx": ratio(tp, t["nginx"]["rps"]),
                        "turnpike_vs_direct": ratio(tp, t["direct"]["rps"]),
                        "nginx_vs_direct": ratio(t["nginx"]["rps"], t["direct"]["rps"]),
                        "turnpike_vs_nginx_per_round": by_round,
                        "turnpike_vs_nginx_median_of_rounds": median(by_round),
                        "turnpike_vs_nginx_cpu_per_request": ratio(
                            t["turnpike"]["cpu_us_per_request"], t["nginx"]["cpu_us_per_request"])}


# --------------------------------------------------------------------------------------------
# Scenarios

def proxy_scenario(number, spec, logged_spec=None):
    """logged_spec: what turnpike-logged is sent instead of `spec` (its own API key)."""
    def run(stack, args, report):
        specs = proxy_targets(spec, shipped=True)
        if logged_spec:
            specs["turnpike-logged"] = logged_spec
        result = load_scenario(stack, number, specs, args, report)
        add_proxy_ratios(result)
        # Paired: each round ran Turnpike and nginx seconds apart, so the host's speed, which
        # drifts by 10% or more over a run on this shared box, cancels within a round. The ratio
        # of the two medians compares rounds of different speed; it is reported beside.
        r = result["ratios"]["turnpike_vs_nginx_median_of_rounds"]
        result["budget"] = {"what": "Turnpike req/s >= 1.0x nginx (median per round)",
                            "value": r, "met": r is not None and r >= 1.0}
        s = result["shipped_ratios"]["turnpike_vs_nginx_median_of_rounds"]
        result["budget_shipped"] = {"what": "  the same, both with their access logs on",
                                    "value": s, "met": s is not None and s >= 1.0}
        return result
    return run


def scenario_2(stack, args, report):
    """Turnpike checks the key and counts the request against the policy; nginx and direct get
    the same request (key header included) and check nothing."""
    key = stack.turnpike.api_key
    url = stack.url("turnpike", "/s2")
    status, _ = http("GET", url)
    if status != 401:
        raise HarnessError(f"turnpike /s2 without a key answered {status}, expected 401")
    req = urllib.request.Request(url, headers={"apikey": key})
    with urllib.request.urlopen(req, timeout=10) as resp:
        if resp.headers.get("RateLimit-Limit") is None:
            raise HarnessError("turnpike /s2 answered without RateLimit-* headers: is the "
                               "policy on the route?")
    spec = {"path": "/s2", "expect_bytes": SMALL_BODY, "headers": {"apikey": key}}
    logged = dict(spec, headers={"apikey": stack.turnpike_logged.api_key})
    return proxy_scenario(2, spec, logged)(stack, args, report)


def scenario_5(stack, args, report):
    """Two Turnpikes, each sent requests spread over its own /r/ routes."""
    spec = {"path": "/r/0", "path_prefix": "/r/", "expect_bytes": SMALL_BODY}
    specs = {"turnpike-10": dict(spec, path_count=10),
             "turnpike-10k": dict(spec, path_count=10000, check_path="/r/9999")}
    targets = list(specs)
    result = load_scenario(stack, 5, specs, args, report)
    runs = result["runs"]
    r = ratio(result["targets"]["turnpike-10k"]["rps"], result["targets"]["turnpike-10"]["rps"])
    by_round = per_round_ratios(runs, "turnpike-10k", "turnpike-10")
    result["ratios"] = {"10k_vs_10": r, "10k_vs_10_per_round": by_round,
                        "10k_vs_10_median_of_rounds": median(by_round)}
    # What the configuration itself cost each Turnpike: the PUT /config (one write), and the
    # resident memory once it was served.
    result["configuration"] = {}
    for target in targets:
        server = stack.server(target)
        result["configuration"][target] = {
            "routes": server.config_routes, "put_config_s": server.put_config_s,
            "rss_after_config_mb": server.rss_after_config_mb,
            "load_and_build_ms": server.last_build_ms}
        log(f"    {target}: {server.config_routes} routes; PUT /config took "
            f"{server.put_config_s:.2f} s; a write's load + build {server.last_build_ms:.1f} ms;"
            f" RSS {server.rss_after_config_mb:.1f} MB once served")
    paired = result["ratios"]["10k_vs_10_median_of_rounds"]  # as in proxy_scenario()
    result["budget"] = {"what": "10,000 routes lose < 5% (median per round)", "value": paired,
                        "met": paired is not None and paired > 0.95}
    return result


def scenario_6(stack, args, report):
    """snapshot_build_bench (bench/snapshot_build_bench.cc) for each size."""
    binary = Path(args.build_dir) / "bench" / "snapshot_build_bench"
    sizes = {}
    for routes in (1000, 10000, 100000):
        started = time.monotonic()
        out = run_tool([str(binary), str(routes)], timeout=300)
        wall = time.monotonic() - started

        def grab(pattern):
            m = re.search(pattern, out)
            if not m:
                raise HarnessError(f"snapshot_build_bench output lacks /{pattern}/:\n{out}")
            return float(m.group(1))
        sizes[str(routes)] = {
            "build_ms": grab(r"build\(Config&&\):\s+([\d.]+) ms"),
            "build_copying_config_ms": grab(r"build\(const Config&\):\s+([\d.]+) ms"),
            "bytes_per_route": grab(r"memory:\s+([\d.]+) bytes/route"),
            "match_ns_12_routes": grab(r"match: ([\d.]+) ns \(12 routes\)"),
            "match_ns_10k_routes": grab(r"ns \(12 routes\), ([\d.]+) ns \(10k routes\)"),
            "wall_s": wall,
        }
        s = sizes[str(routes)]
        log(f"    {routes:>7} routes: build {s['build_ms']:.1f} ms CPU, "
            f"{s['bytes_per_route']:.0f} B/route")
    big = sizes["100000"]
    return {"title": TITLES[6], "sizes": sizes,
            "budget": {"what": "100k routes: build < 250 ms and < 2 KB/route",
                       "value": {"build_ms": big["build_ms"],
                                 "bytes_per_route": big["bytes_per_route"]},
                       "met": big["build_ms"] < 250 and big["bytes_per_route"] < 2048}}


def scenario_7(stack, args, report):
    """propagation_bench (bench/propagation_bench.cc) against the main Turnpike, twice: writes
    back to back (a burst: ConfigSync coalesces them, spacing builds up to 40 ms apart) and
    writes 100 ms apart (each after a quiet spell, so built at once)."""
    binary = Path(args.build_dir) / "bench" / "propagation_bench"
    tp = stack.turnpike
    result = {"title": TITLES[7]}
    for mode, gap_ms in (("burst", 0), ("spaced", 100)):
        out = run_tool([str(binary), "--admin", f"127.0.0.1:{tp.admin_port}",
                        "--proxy", f"127.0.0.1:{tp.proxy_port}", "--service", "bench-upstream",
                        "--token", stack.token, "--writes", str(args.propagation_writes),
                        "--gap-ms", str(gap_ms)], timeout=900)
        r = json.loads(out.strip().splitlines()[-1])
        result[mode] = r
        log(f"    {mode:<6} {r['writes']} writes: first request seeing it p50 "
            f"{r['first_seen_ms']['p50']:.2f} ms, p99 {r['first_seen_ms']['p99']:.2f} ms; "
            f"all {r['connections']} connections p99 {r['all_seen_ms']['p99']:.2f} ms")
    p99 = max(result[m]["all_seen_ms"]["p99"] for m in ("burst", "spaced"))
    result["budget"] = {"what": "every connection sees a write within 50 ms at p99",
                        "value": p99, "met": p99 < 50}
    return result


def scenario_8(stack, args, report):
    """Added latency at about half of Turnpike's peak rate. Debian has no wrk2 (fixed-rate), so
    the load is paced instead: each connection waits 1 ms after a response before its next
    request, and the number of connections is chosen to give about half of Turnpike's
    scenario-1 rate (measured here if scenario 1 did not run). Still a closed loop: a slower
    target gets a slightly lower rate, and a stall delays the requests behind it (coordinated
    omission), so this p99 is an optimistic one. --latency-connections N fixes the
    connections instead (no pacing, as fast as N connections go)."""
    spec = {"path": "/s1", "expect_bytes": SMALL_BODY}
    fixed = args.latency_connections
    if fixed:
        result = load_scenario(stack, 8, proxy_targets(spec), args, report,
                               connections=fixed, threads=min(2, fixed))
        result["pacing"] = {"delay_ms": 0, "connections": fixed}
    else:
        peak = report["scenarios"].get("1", {}).get("targets", {}).get("turnpike", {}).get("rps")
        if not peak:
            check_target(stack, "turnpike", spec)
            peak = run_wrk(stack, "turnpike", spec, args.duration, args.connections,
                           args.threads)["rps"]
        target_rps = peak / 2
        paced = dict(spec, delay_ms=1)
        # How fast one paced connection goes on this machine (the 1 ms timer fires late).
        probe_connections = 8
        probe = run_wrk(stack, "direct", paced, max(1, min(args.duration, 2)),
                        probe_connections, 2)
        per_connection = probe["rps"] / probe_connections
        connections = max(1, round(target_rps / per_connection)) if per_connection else 4
        log(f"    pacing: Turnpike's peak {peak:,.0f} req/s; {per_connection:,.0f} req/s per "
            f"paced connection -> {connections} connections for ~{target_rps:,.0f} req/s")
        result = load_scenario(stack, 8, proxy_targets(paced), args, report,
                               connections=connections, threads=min(2, connections))
        result["pacing"] = {"delay_ms": 1, "connections": connections,
                            "turnpike_peak_rps": peak, "target_rps": target_rps,
                            "per_connection_rps": per_connection}
    add_proxy_ratios(result)
    t = result["targets"]
    added = t["turnpike"]["p99_ms"] - t["direct"]["p99_ms"]
    result["added_p99_ms"] = {"turnpike": added,
                              "nginx": t["nginx"]["p99_ms"] - t["direct"]["p99_ms"]}
    result["budget"] = {"what": "Turnpike p99 - direct p99 < 0.5 ms", "value": added,
                        "met": added < 0.5}
    return result


def sequential_latency(port, paths, iterations):
    """Wall time of `paths` requested one after another on one keep-alive connection, per
    iteration, in milliseconds (what a client without the aggregate route would wait)."""
    conn = HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    try:
        for _ in range(iterations):
            started = time.perf_counter()
            for path in paths:
                conn.request("GET", path, headers={"Host": "bench"})
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200 or not body:
                    raise HarnessError(f"127.0.0.1:{port}{path} answered {resp.status}")
            times.append((time.perf_counter() - started) * 1000)
    finally:
        conn.close()
    return times


def latency_summary(times):
    ordered = sorted(times)
    return {"iterations": len(times), "p50_ms": median(ordered),
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            "mean_ms": statistics.fmean(ordered)}


def scenario_9(stack, args, report):
    """What a client waits for: one call to the aggregate route (Turnpike asks the three
    backends at once and merges their JSON) against the three backend calls made one after
    another straight to the upstream, each from one keep-alive connection, interleaved rounds.
    Then wrk's throughput of the aggregate route, for the CPU it costs."""
    status, data = http("GET", stack.url("turnpike", "/agg"))
    merged = json.loads(data) if status == 200 else None
    if not isinstance(merged, dict) or sorted(merged) != ["part1", "part2", "part3"]:
        raise HarnessError(f"turnpike /agg answered {status}: {data[:200]!r}")
    iterations = 200 if args.quick else 2000
    times = {"turnpike aggregate": [], "direct 3 in a row": []}
    for round_index in range(args.rounds):
        agg = sequential_latency(stack.turnpike.proxy_port, ["/agg"], iterations)
        seq = sequential_latency(stack.upstream_port, AGGREGATE_PARTS, iterations)
        times["turnpike aggregate"] += agg
        times["direct 3 in a row"] += seq
        log(f"    round {round_index + 1}: aggregate p50 {median(agg):.3f} ms, three direct "
            f"calls p50 {median(seq):.3f} ms")
    latency = {name: latency_summary(t) for name, t in times.items()}
    # The same Turnpike under the same load on the plain route, in the same rounds: the CPU of
    # one aggregate call against that of the three plain proxied requests it replaces.
    result = load_scenario(stack, 9, {
        "turnpike": {"path": "/agg", "expect_bytes": len(data)},
        "turnpike-plain": {"path": "/s1", "expect_bytes": SMALL_BODY}}, args, report)
    a, d = latency["turnpike aggregate"], latency["direct 3 in a row"]
    result["sequential_latency"] = latency
    t = result["targets"]
    cpu_ratio = ratio(t["turnpike"]["cpu_us_per_request"],
                      3 * t["turnpike-plain"]["cpu_us_per_request"])
    result["ratios"] = {"aggregate_vs_sequential_p50": ratio(a["p50_ms"], d["p50_ms"]),
                        "aggregate_vs_sequential_p99": ratio(a["p99_ms"], d["p99_ms"]),
                        "aggregate_cpu_vs_three_plain": cpu_ratio}
    result["budget"] = {"what": "CPU of an aggregate call / 3 plain requests' < 2",
                        "value": cpu_ratio, "met": cpu_ratio is not None and cpu_ratio < 2}
    return result


def tls_scenario(number, spec, budget, turnpike="turnpike-tls", nginx="nginx-tls",
                 over="over TLS", connections=None, threads=None):
    """Turnpike against nginx, both with TLS on one side (the listener's targets by default;
    turnpike/nginx name others), the same requests to each. `budget`: the ratio Turnpike must
    reach, or None when the scenario only says where it stands. Also scenarios 15 and 16:
    two targets compared the same way (`over` names how, connections/threads the load)."""
    def run(stack, args, report):
        result = load_scenario(stack, number, {turnpike: spec, nginx: spec}, args, report,
                               connections=connections, threads=threads)
        by_round = per_round_ratios(result["runs"], turnpike, nginx)
        t = result["targets"]
        result["ratios"] = {
            "turnpike_vs_nginx": ratio(t[turnpike]["rps"], t[nginx]["rps"]),
            "turnpike_vs_nginx_per_round": by_round,
            "turnpike_vs_nginx_median_of_rounds": median(by_round),
            "turnpike_vs_nginx_cpu_per_request": ratio(t[turnpike]["cpu_us_per_request"],
                                                       t[nginx]["cpu_us_per_request"])}
        r = median(by_round)
        if budget is not None:
            result["budget"] = {"what": f"Turnpike req/s >= {budget}x nginx {over} (median "
                                        "per round)", "value": r, "met": r >= budget}
        return result
    return run


def run_websocket_client(stack, target, connections, warmup, messages=0, seconds=0):
    """One bench/websocket_rtt.py process against `target`: its JSON, with the CPU that the
    target's proxy (none for direct) and the echo server used meanwhile, and the proxy's peak
    RSS (the echo server's for direct). The client reports its own CPU."""
    argv = ["/usr/bin/python3", str(WEBSOCKET_CLIENT), stack.websocket_url(target),
            "--connections", str(connections), "--size", str(WEBSOCKET_MESSAGE_BYTES),
            "--warmup", str(warmup)]
    if messages:
        argv += ["--messages", str(messages)]
    if seconds:
        argv += ["--seconds", f"{seconds:g}"]
    echo = stack.websocket_echo
    proxy = None if target == "direct" else stack.server(target)
    measured = proxy or echo
    peak_reset = measured.reset_peak_rss()
    cpu_before = (measured.cpu_seconds(), echo.cpu_seconds())
    out = run_tool(argv, timeout=seconds + 60)
    cpu = (measured.cpu_seconds() - cpu_before[0], echo.cpu_seconds() - cpu_before[1])
    r = json.loads(out.strip().splitlines()[-1])
    if not r.get("ok"):
        raise HarnessError(f"websocket_rtt.py against {target}: {r}")
    rtt = r["rtt_us"]
    # Every round trip the proxy and the echo server handled, the warm-up's too.
    handled = r["round_trips"] + r["warmup_round_trips"]
    return {"target": target, "connections": connections, "round_trips": r["round_trips"],
            "warmup_round_trips": r["warmup_round_trips"], "seconds": r["seconds"],
            "rps": r["round_trips_per_s"],
            "latency_ms": {k: rtt[k] / 1000 for k in ("mean", "p50", "p90", "p99", "p999",
                                                      "max")},
            "cpu_s": cpu[0], "echo_cpu_s": cpu[1], "client_cpu_s": r["cpu_s"],
            "cpu_us_per_round_trip": cpu[0] / handled * 1e6,
            "echo_cpu_us_per_round_trip": cpu[1] / handled * 1e6,
            "client_cpu_us_per_round_trip": r["cpu_s"] / r["round_trips"] * 1e6,
            "peak_rss_mb": measured.peak_rss_mb(), "peak_rss_is_per_run": peak_reset}


def run_websocket_interleaved(stack, targets, messages, warmup):
    """One bench/websocket_rtt.py process with one connection to each target, their round trips
    interleaved (each cycle one on each, in a random order): target -> its run."""
    urls = {target: stack.websocket_url(target) for target in targets}
    argv = ["/usr/bin/python3", str(WEBSOCKET_CLIENT), *urls.values(), "--size",
            str(WEBSOCKET_MESSAGE_BYTES), "--warmup", str(warmup), "--messages", str(messages)]
    out = run_tool(argv, timeout=600)
    r = json.loads(out.strip().splitlines()[-1])
    if not r.get("ok"):
        raise HarnessError(f"websocket_rtt.py against {targets}: {r}")
    runs = {}
    for target, url in urls.items():
        u = r["urls"][url]
        runs[target] = {"target": target, "round_trips": u["round_trips"],
                        "warmup_round_trips": u["warmup_round_trips"],
                        "latency_ms": {k: v / 1000 for k, v in u["rtt_us"].items()}}
    return runs


def positive_ratio(a, b):
    return a / b if a > 0 and b > 0 else None


def paired_differences(runs, a, b, key):
    """runs[a][i] - runs[b][i] of latency_ms[key], round by round (the two ran seconds
    apart)."""
    return [x["latency_ms"][key] - y["latency_ms"][key] for x, y in zip(runs[a], runs[b])]


def scenario_14(stack, args, report):
    """WebSocket echo round trips of 64-byte binary messages, direct to the echo server
    (websocket_peer.py serve, on the `websockets` library) and through each proxy's tunnel.
    Per round:
      sequential  one connection to each target, 5,000 round trips on each (500 with --quick)
                  after 200 unrecorded, interleaved message by message (each cycle one round
                  trip per target, in a random order): the RTT a client sees, and what each
                  proxy adds to direct's (p50, p99). On this shared box a compile elsewhere
                  moves a p99 by milliseconds; interleaved, it moves every target's alike.
      parallel    per target, in the order turnpike, nginx, direct, turnpike-logged,
                  nginx-logged: 16 connections side by side, each sequential, for --duration
                  seconds (0.5 s with --quick): round trips/s, and the CPU per round trip of
                  the proxy, the echo server and the client.
    Each run is a new client process with new connections (their handshakes go through the
    proxy too, outside the timed part). No budget: where it stands."""
    targets = ["turnpike", "nginx", "direct", "turnpike-logged", "nginx-logged"]
    sequential_n, sequential_warmup = (500, 50) if args.quick else (5000, 200)
    parallel_s, parallel_warmup = (0.5, 5) if args.quick else (args.duration, 20)
    for target in targets:  # a handshake and an echo through each before any timing
        run_websocket_client(stack, target, 1, 0, messages=1)
    if args.warmup > 0 and not args.quick:  # with --quick the clients' own warm-up does
        for target in targets:
            run_websocket_client(stack, target, WEBSOCKET_CONNECTIONS, parallel_warmup,
                                 seconds=args.warmup)
    sequential = {t: [] for t in targets}
    parallel = {t: [] for t in targets}
    for round_index in range(args.rounds):
        seq = run_websocket_interleaved(stack, targets, sequential_n, sequential_warmup)
        for target in targets:
            par = run_websocket_client(stack, target, WEBSOCKET_CONNECTIONS, parallel_warmup,
                                       seconds=parallel_s)
            for run in (seq[target], par):
                run["round"] = round_index + 1
            sequential[target].append(seq[target])
            parallel[target].append(par)
            log(f"    round {round_index + 1} {target:<15} one connection: p50 "
                f"{seq[target]['latency_ms']['p50']:.3f} ms, p99 "
                f"{seq[target]['latency_ms']['p99']:.3f} ms; {WEBSOCKET_CONNECTIONS} "
                f"connections: {par['rps']:>8,.0f} round trips/s, cpu {par['cpu_s']:.2f} s")
    return websocket_result(targets, sequential, parallel, sequential_n)


def websocket_result(targets, sequential, parallel, sequential_n):
    """Scenario 14's summary of its runs (target -> runs, round by round)."""
    def summary(runs):
        return {"rounds": len(runs),
                **{f"{k}_ms": median([r["latency_ms"][k] for r in runs])
                   for k in ("mean", "p50", "p90", "p99", "p999")}}

    result = {"title": TITLES[14], "message_bytes": WEBSOCKET_MESSAGE_BYTES,
              "sequential": {"round_trips": sequential_n,
                             "targets": {t: summary(r) for t, r in sequential.items()},
                             "runs": sequential},
              "connections": WEBSOCKET_CONNECTIONS, "runs": parallel, "targets": {}}
    # The parallel runs in the shape of the wrk scenarios' (the table and the ratios read it):
    # rps is round trips/s, CPU per request the target's CPU per round trip.
    for target, runs in parallel.items():
        handled = sum(r["round_trips"] + r["warmup_round_trips"] for r in runs)
        result["targets"][target] = {
            "rounds": len(runs), "rps": median([r["rps"] for r in runs]),
            "rps_min": min(r["rps"] for r in runs), "rps_max": max(r["rps"] for r in runs),
            "p50_ms": median([r["latency_ms"]["p50"] for r in runs]),
            "p99_ms": median([r["latency_ms"]["p99"] for r in runs]),
            "cpu_s": median([r["cpu_s"] for r in runs]),
            "cpu_us_per_request": sum(r["cpu_s"] for r in runs) / handled * 1e6,
            "echo_cpu_us_per_round_trip": sum(r["echo_cpu_s"] for r in runs) / handled * 1e6,
            "client_cpu_us_per_round_trip": sum(r["client_cpu_s"] for r in runs)
            / sum(r["round_trips"] for r in runs) * 1e6,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
    add_proxy_ratios(result)
    # What each proxy adds to a round trip: its RTT minus direct's in the same round, the
    # median over the rounds.
    added = {}
    for target in targets:
        if target != "direct":
            added[target] = {
                key: median(paired_differences(sequential, target, "direct", key))
                for key in ("p50", "p99")}
            added[target].update({
                f"{key}_per_round": paired_differences(sequential, target, "direct", key)
                for key in ("p50", "p99")})
    result["added_ms"] = added
    # Turnpike / nginx, like the throughput's: within each round, then the median of rounds.
    # An added latency within the noise can be negative: such a round has no ratio.
    seq_t = result["sequential"]["targets"]
    for tp, ngx, name in (("turnpike", "nginx", "latency_ratios"),
                          ("turnpike-logged", "nginx-logged", "shipped_latency_ratios")):
        r = {}
        for key in ("p50", "p99"):
            r[f"rtt_{key}_per_round"] = [ratio(x["latency_ms"][key], y["latency_ms"][key])
                                         for x, y in zip(sequential[tp], sequential[ngx])]
            by_round = [positive_ratio(a, b) for a, b in zip(added[tp][f"{key}_per_round"],
                                                             added[ngx][f"{key}_per_round"])]
            r[f"added_{key}_per_round"] = by_round
            r[f"rtt_{key}"] = median(r[f"rtt_{key}_per_round"])
            valid = [x for x in by_round if x is not None]
            r[f"added_{key}"] = median(valid) if valid else None
            # The ratio of the medians over the rounds, beside (it ignores the pairing).
            r[f"rtt_{key}_of_medians"] = ratio(seq_t[tp][f"{key}_ms"], seq_t[ngx][f"{key}_ms"])
            r[f"added_{key}_of_medians"] = positive_ratio(added[tp][key], added[ngx][key])
        result[name] = r
    return result


SCENARIO_RUNNERS = {
    1: proxy_scenario(1, {"path": "/s1", "expect_bytes": SMALL_BODY}),
    2: scenario_2,
    3: proxy_scenario(3, {"path": "/1mb", "expect_bytes": LARGE_BODY}),
    4: proxy_scenario(4, {"path": "/upload", "method": "POST", "body_bytes": LARGE_BODY,
                          "expect_bytes": 3}),
    5: scenario_5,
    6: scenario_6,
    7: scenario_7,
    8: scenario_8,
    9: scenario_9,
    10: tls_scenario(10, {"path": "/s1", "expect_bytes": SMALL_BODY}, 1.0),
    # wrk opens a new connection after each response that says Connection: close, and keeps no
    # TLS sessions: every request pays a full handshake (ECDHE + ECDSA P-256).
    11: tls_scenario(11, {"path": "/s1", "expect_bytes": SMALL_BODY,
                          "headers": {"Connection": "close"}}, 1.0),
    12: tls_scenario(12, {"path": "/1mb", "expect_bytes": LARGE_BODY}, None),
    # Plain from wrk to the proxies; TLS from each proxy to the upstream, kept alive.
    13: tls_scenario(13, {"path": "/tls-up/s13", "expect_bytes": SMALL_BODY}, 1.0,
                     turnpike="turnpike", nginx="nginx"),
    14: scenario_14,
    # h2load: 16 connections x 10 concurrent streams, one thread; HTTP/1.1 to the upstream.
    15: tls_scenario(15, {"path": "/s1", "expect_bytes": SMALL_BODY, "client": "h2load"}, 1.0,
                     turnpike="turnpike-h2c", nginx="nginx-h2c", over="over h2c",
                     connections=H2_CONNECTIONS, threads=H2_THREADS),
    16: tls_scenario(16, {"path": "/s1", "expect_bytes": SMALL_BODY, "client": "h2load"}, 1.0,
                     turnpike="turnpike-h2", nginx="nginx-h2", over="over h2+TLS",
                     connections=H2_CONNECTIONS, threads=H2_THREADS),
}


# --------------------------------------------------------------------------------------------
# Report

def machine_info(args):
    def first_line(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    cpu_model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    # --no-optional-locks: only read, never refresh the index of the working tree.
    dirty = subprocess.run(["git", "--no-optional-locks", "-C", str(ROOT), "status", "--porcelain",
                            "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip() != ""
    build_type = "?"
    cache = Path(args.build_dir) / "CMakeCache.txt"
    if cache.exists():
        m = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", cache.read_text(), re.M)
        build_type = m.group(1) if m else "?"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "os": first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "nginx": first_line(["nginx", "-v"]),
        "wrk": first_line(["wrk", "-v"]),
        "turnpike": first_line([str(Path(args.build_dir) / "app" / "turnpike"), "--version"]),
        "commit": commit + ("+uncommitted changes" if dirty else ""),
        "build_dir": str(args.build_dir),
        "build_type": build_type,
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def fmt(value, spec, none="-"):
    return none if value is None else format(value, spec)


def print_table(report):
    scenarios = report["scenarios"]
    header = (f"{'scenario':<44} {'target':<15} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'CPU s':>6} {'CPU us/req':>10} {'RSS MB':>7} {'x nginx':>7} {'x direct':>8}")
    log("")
    log(header)
    log("-" * len(header))
    for key in sorted(scenarios, key=int):
        result = scenarios[key]
        title = f"{key}. {result['title']}"
        if "targets" in result:
            ratios = result.get("ratios", {})
            for target, s in result["targets"].items():
                x_nginx = x_direct = ""
                if target in ("turnpike", "turnpike-tls", "turnpike-h2c", "turnpike-h2"):
                    x_nginx = fmt(ratios.get("turnpike_vs_nginx"), ".2f")
                    x_direct = fmt(ratios.get("turnpike_vs_direct"), ".2f")
                elif target == "turnpike-logged":
                    x_nginx = fmt(result.get("shipped_ratios", {}).get("turnpike_vs_nginx"),
                                  ".2f")
                elif target == "nginx":
                    x_direct = fmt(ratios.get("nginx_vs_direct"), ".2f")
                elif target == "turnpike-10k":
                    x_nginx = "10k/10:"
                    x_direct = fmt(ratios.get("10k_vs_10"), ".3f")
                log(f"{title:<44} {target:<15} {s['rps']:>9,.0f} {s['p50_ms']:>7.2f} "
                    f"{s['p99_ms']:>7.2f} {s['cpu_s']:>6.2f} {s['cpu_us_per_request']:>10.1f} "
                    f"{s['peak_rss_mb']:>7.1f} {x_nginx:>7} {x_direct:>8}")
                title = ""
            if "shipped_ratios" in result:
                s = result["shipped_ratios"]
                log(f"{'':<44} the access log costs Turnpike {100 * s['turnpike_log_cost']:.1f}%"
                    f", nginx {100 * s['nginx_log_cost']:.1f}% (median of rounds)")
            if key == "5":
                for target, c in result["configuration"].items():
                    log(f"{'':<44} {target}: {c['routes']:,} routes, PUT /config "
                        f"{c['put_config_s']:.2f} s, load + build per write "
                        f"{fmt(c['load_and_build_ms'], '.1f')} ms, RSS once served "
                        f"{c['rss_after_config_mb']:.1f} MB")
            if key == "9":
                for name, l in result["sequential_latency"].items():
                    log(f"{'':<44} one client, {l['iterations']} calls: {name:<18} p50 "
                        f"{l['p50_ms']:.3f} ms, p99 {l['p99_ms']:.3f} ms")
                r = result["ratios"]
                log(f"{'':<44} aggregate / three in a row: p50 "
                    f"{fmt(r['aggregate_vs_sequential_p50'], '.2f')}x, p99 "
                    f"{fmt(r['aggregate_vs_sequential_p99'], '.2f')}x")
                log(f"{'':<44} CPU of one aggregate call / three plain requests': "
                    f"{fmt(r['aggregate_cpu_vs_three_plain'], '.2f')}x")
            if key == "14":
                log(f"{'':<44} rows: {result['connections']} connections, round trips/s; "
                    f"CPU per round trip of the proxy (direct: of the echo server)")
                for target, t in result["targets"].items():
                    log(f"{'':<44} {target:<15} echo server {t['echo_cpu_us_per_round_trip']:.1f}"
                        f" us, client {t['client_cpu_us_per_round_trip']:.1f} us per round trip")
                n = result["sequential"]["round_trips"]
                for target, l in result["sequential"]["targets"].items():
                    a = result["added_ms"].get(target)
                    extra = (f"; added p50 {a['p50']:+.3f}, p99 {a['p99']:+.3f}" if a else "")
                    log(f"{'':<44} one connection each, {n} interleaved: {target:<15} p50 "
                        f"{l['p50_ms']:.3f} ms, p99 {l['p99_ms']:.3f} ms{extra}")
                for name, what in (("latency_ratios", "turnpike / nginx"),
                                   ("shipped_latency_ratios", "as shipped")):
                    r = result[name]
                    x = {k: fmt(v, '.2f') + ('' if v is None else 'x') for k, v in r.items()
                         if not k.endswith("_per_round")}
                    log(f"{'':<44} {what}: RTT p50 {x['rtt_p50']}, p99 {x['rtt_p99']}; added "
                        f"p50 {x['added_p50']}, p99 {x['added_p99']} (median of rounds)")
            if key in ("15", "16"):
                runs = [r for rs in result["runs"].values() for r in rs]
                log(f"{'':<44} h2load -c {result['connections']} -m "
                    f"{runs[0]['streams_per_connection']} -t {result['threads']}: its CPU per "
                    f"run (median) " + ", ".join(
                        f"{t} {median([r['client_cpu_s'] for r in rs]):.2f} s"
                        for t, rs in result["runs"].items()))
            if key == "8":
                a = result["added_p99_ms"]
                pacing = result["pacing"]
                how = (f"{pacing['connections']} connections, 1 ms pause after each response"
                       if pacing["delay_ms"] else f"{pacing['connections']} unpaced connections")
                log(f"{'':<44} added p99 over direct: turnpike {a['turnpike']:+.3f} ms, "
                    f"nginx {a['nginx']:+.3f} ms ({how})")
        elif key == "6":
            for routes, s in result["sizes"].items():
                log(f"{title:<44} {int(routes):>7,} routes: build {s['build_ms']:.1f} ms CPU "
                    f"({s['build_copying_config_ms']:.1f} copying the config), "
                    f"{s['bytes_per_route']:.0f} B/route, match {s['match_ns_10k_routes']:.0f} ns")
                title = ""
        elif key == "7":
            for mode in ("burst", "spaced"):
                r = result[mode]
                f, a, w = r["first_seen_ms"], r["all_seen_ms"], r["write_ms"]
                log(f"{title:<44} {mode} ({r['gap_ms']} ms apart), {r['writes']} writes: "
                    f"first seen p50 {f['p50']:.2f} / p99 {f['p99']:.2f} ms; all "
                    f"{r['connections']} connections p50 {a['p50']:.2f} / p99 {a['p99']:.2f} ms;"
                    f" the write itself p50 {w['p50']:.1f} ms")
                title = ""
        log("-" * len(header))
    log("")
    log("budget (DESIGN.md), from this run:")
    for key in sorted(scenarios, key=int):
        b = scenarios[key].get("budget")
        if not b:
            continue
        value = b["value"]
        if isinstance(value, dict):
            shown = ", ".join(f"{k} {v:.1f}" for k, v in value.items())
        else:
            shown = fmt(value, ".3f")
        extra = ""
        ratios = scenarios[key].get("ratios", {})
        if "turnpike_vs_nginx_median_of_rounds" in ratios and key != "8":
            extra = (f"  (ratio of the medians {fmt(ratios['turnpike_vs_nginx'], '.2f')};"
                     f" CPU per request {ratios['turnpike_vs_nginx_cpu_per_request']:.2f}x "
                     f"nginx's)")
        elif "10k_vs_10_median_of_rounds" in ratios:
            extra = f"  (ratio of the medians {fmt(ratios['10k_vs_10'], '.3f')})"
        log(f"  {key}. {b['what']:<52} {shown:<32} {'met' if b['met'] else 'MISSED'}{extra}")
        shipped = scenarios[key].get("budget_shipped")
        if shipped:
            s = scenarios[key]["shipped_ratios"]
            log(f"     {shipped['what']:<52} {fmt(shipped['value'], '.3f'):<32} "
                f"{'met' if shipped['met'] else 'MISSED'}  (ratio of the medians "
                f"{fmt(s['turnpike_vs_nginx'], '.2f')}; CPU per request "
                f"{fmt(s['turnpike_vs_nginx_cpu_per_request'], '.2f')}x nginx's)")


# --------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", required=True, help="build with app/turnpike and bench/*")
    p.add_argument("--quick", action="store_true",
                   help="1 round of 2 s per target, short warm-up, 40 propagation writes: "
                        "checks that the harness works")
    p.add_argument("--rounds", type=int, help="interleaved rounds per scenario (default 5)")
    # wrk takes whole seconds.
    p.add_argument("--duration", type=int, help="seconds per wrk run, and per run of scenario "
                                                "14's 16 WebSocket connections (default 10)")
    p.add_argument("--warmup", type=int, help="seconds of unrecorded load per target first "
                                              "(default 2; --quick 1; 0 = none)")
    p.add_argument("--workers", type=int, default=2,
                   help="Turnpike workers = nginx worker_processes (default 2)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--latency-connections", type=int, default=0,
                   help="scenario 8: N connections as fast as they go, instead of paced "
                        "connections at about half of Turnpike's peak rate (default 0: paced)")
    p.add_argument("--propagation-writes", type=int,
                   help="admin writes in scenario 7 (default 200)")
    p.add_argument("--scenarios", default=",".join(map(str, ALL_SCENARIOS)),
                   help="comma-separated scenario numbers (default all: 1,2,...,16)")
    p.add_argument("--out", default=os.environ.get("OUT"),
                   help="JSON results file (default $OUT, else <build-dir>/bench-results.json)")
    p.add_argument("--keep-tmp", action="store_true",
                   help="keep the temporary directory (configs, logs) afterwards")
    args = p.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 5)
    args.duration = args.duration or (2 if quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if quick else 2)
    args.propagation_writes = args.propagation_writes or (40 if quick else 200)
    try:
        args.scenarios = sorted({int(s) for s in args.scenarios.split(",") if s.strip()})
    except ValueError:
        p.error("--scenarios takes numbers such as 1,2,5")
    if not args.scenarios or any(s not in ALL_SCENARIOS for s in args.scenarios):
        p.error(f"--scenarios: numbers from 1 to {max(ALL_SCENARIOS)}")
    if (args.rounds < 1 or args.duration < 1 or args.warmup < 0 or args.workers < 1
            or args.connections < 1 or args.threads < 1 or args.latency_connections < 0):
        p.error("--rounds, --duration, --workers, --connections and --threads must be "
                "positive, --warmup and --latency-connections not negative")
    args.out = args.out or str(Path(args.build_dir) / "bench-results.json")
    return args


def main(argv):
    args = parse_args(argv)
    # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, through the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for tool in ("nginx", "wrk", "curl"):
        if shutil.which(tool) is None:
            raise HarnessError(f"{tool} is missing: run ./scripts/bench, which installs it")
    if any(n in args.scenarios for n in WEBSOCKET_SCENARIOS) and subprocess.run(
            ["/usr/bin/python3", "-c", "import websockets"], capture_output=True).returncode:
        raise HarnessError("Debian's python3-websockets is missing (scenario 14's echo "
                           "server): run ./scripts/bench, which installs it")
    if (any(n in args.scenarios for n in H2C_SCENARIOS + H2_TLS_SCENARIOS)
            and shutil.which("h2load") is None):
        raise HarnessError("h2load is missing (scenarios 15 and 16): run ./scripts/bench, which "
                           "installs Debian's nghttp2-client")
    for binary in ("app/turnpike", "bench/snapshot_build_bench", "bench/propagation_bench"):
        if not (Path(args.build_dir) / binary).exists():
            raise HarnessError(f"{args.build_dir}/{binary} is missing: build it first")

    started = time.monotonic()
    report = {"machine": machine_info(args),
              "options": {k: v for k, v in vars(args).items() if k not in ("out", "keep_tmp")},
              "scenarios": {}, "problems": []}
    m = report["machine"]
    log(f"==> {m['nproc']} x {m['cpu_model']}, kernel {m['kernel']}, {m['nginx']}, {m['wrk']}, "
        f"{m['turnpike']} ({m['commit']}, {m['build_type']}), "
        f"load {' '.join(m['loadavg_at_start'])}")
    log(f"==> scenarios {args.scenarios}: {args.rounds} round(s) x {args.duration:g} s per target,"
        f" {args.connections} connections, {args.threads} wrk threads, {args.workers} workers")

    stack = Stack(args)
    failed = False
    try:
        if args.scenarios != [6]:  # scenario 6 alone needs no server
            log(f"==> starting upstream, nginx and Turnpike in {stack.dir}")
            stack.start(args.scenarios)
            check_upload_reads_body(stack)
        for number in args.scenarios:
            log(f"==> scenario {number}: {TITLES[number]}")
            try:
                report["scenarios"][str(number)] = SCENARIO_RUNNERS[number](stack, args, report)
            except HarnessError as e:
                report["problems"].append(f"scenario {number}: {e}")
                log(f"    FAILED: {e}")
        for server in stack.servers:
            if not server.alive():
                report["problems"].append(f"{server.name} died during the run:\n{server.tail()}")
    except HarnessError as e:
        report["problems"].append(str(e))
    finally:
        stack.stop()
        report["elapsed_s"] = time.monotonic() - started
        report["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
        failed = bool(report["problems"])
        if failed or args.keep_tmp:
            log(f"==> configs and logs kept in {stack.dir}")
        else:
            shutil.rmtree(stack.dir, ignore_errors=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if report["scenarios"]:
        print_table(report)
    log(f"\n==> results: {args.out} ({report['elapsed_s']:.0f} s)")
    if failed:
        log("==> the harness had problems (speed is never one):")
        for problem in report["problems"]:
            log(f"  - {problem}")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except HarnessError as e:
        print(f"bench: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
