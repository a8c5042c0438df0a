#!/usr/bin/python3
"""Turnpike's soak test: load through the proxy while the configuration changes every 100 ms
(run it through ./scripts/soak, which installs and builds first).

Starts, on free loopback ports and as the current user, in one temporary directory, a Debian
nginx upstream (a fixed 100-byte body, keep-alive) and `turnpike serve --access-log off`
(the helpers of bench/bench.py), configures a stable part through the admin API, and then, for
--duration seconds, runs three things at once:

  stable load  wrk on routes that never change: /stable/plain (no auth), /stable/key (API-key
               auth with a key that stays, under a policy no run can reach) and /stable/limited
               (a per-IP policy no run can reach). Every answer but 200 is an error.
  churn load   a few wrk connections on /churn/a and /churn/b, the paths of the route that the
               churn creates, changes and deletes. 200, 401 (no key or the key is gone), 403,
               404 (no route at the moment) and 429 (the churned policy refuses) are intended
               and counted apart; anything else (5xx) is an error.
  tunnels      --tunnels WebSockets (default 8) through the stable route /stable/ws to an echo
               server (Python's `websockets`), open for the whole run, each sending a message
               every 250 ms and checking its echo. A tunnel that closes or a wrong echo is an
               error: configuration changes must never close a tunnel.
  churn        one admin write every 100 ms (fixed rate), cycling through creating, updating
               and deleting a service (with and without active health checks), a rate-limit
               policy, a consumer, two API keys (one caller-supplied, which the churn load
               sends, one minted) and a route using all of them; plus two writes that must be
               refused (a duplicate name: 409; deleting a service still in use: 400). Every
               answer is checked against the status that write must get; anything else is an
               error, as is a write that gets no answer.

wrk runs in consecutive windows (5 s each for runs under 2 minutes, else 10 s): each window
reports request rate, p50 and p99 latency and the statuses seen. A sampler reads VmRSS, the
thread count and the open descriptors of the turnpike process every second.

Verdicts (latency never is one: on a shared machine it is only reported):
  errors       0 socket errors, 0 unexpected statuses on either load, 0 failed admin writes.
  memory       the first window is warm-up; the baseline is the median RSS over the second
               window, the end value the median over the last 20% of the run. Growth above
               max(--rss-growth-pct of the baseline, --rss-growth-mib) fails.
  descriptors  the same comparison for open fds (max(20%, 32)) and threads (max(20%, 8)).
  liveness     the gateway must stay up; afterwards the admin API must answer, every proxy
               worker serve the stored version, the stored version must have moved by exactly
               the number of successful writes, only the stable entities may be left, and the
               stable routes must still answer 200 while the churned paths answer 404.

Prints a table per window and a summary, writes JSON (default <build-dir>/soak-results.json,
or $OUT). Exit status 0 when every verdict passes, 1 otherwise (including a harness failure).
Python standard library and Debian's python3-websockets.
"""

import argparse
import asyncio
import http.client
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (bench/bench.py: the servers, ports and machine information)
from bench import HarnessError, log  # noqa: E402

import websockets  # noqa: E402  (Debian's python3-websockets)

ROOT = bench.ROOT
WRK_SCRIPT = bench.BENCH_DIR / "wrk" / "soak.lua"

STABLE_ROUTES = ("stable-plain", "stable-key", "stable-limited", "stable-ws")
STABLE_SERVICES = ("soak-upstream", "soak-websocket")
STABLE_POLICIES = ("soak-key-never-refuses", "soak-ip-never-refuses")
STABLE_CONSUMERS = ("soak-client",)
CHURN_INTENDED = {200, 401, 403, 404, 429}
# The caller-supplied key of every churned consumer (the churn load sends it): at most one
# churned consumer holds it at a time, since each cycle deletes it before the next adds it.
CHURN_KEY = "tpk_soak_churn_" + secrets.token_hex(12)


def median(values):
    return statistics.median(values) if values else None


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


# --------------------------------------------------------------------------------------------
# The servers: bench.py's Stack, with a temporary directory of its own and only the upstream
# and one Turnpike.

class SoakStack(bench.Stack):
    def __init__(self, args):
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="turnpike-soak."))
        self.servers = []
        self.token = "soak-" + secrets.token_hex(16)
        self.turnpike_bin = Path(args.build_dir) / "app" / "turnpike"
        self.upstream_port = bench.free_port()
        self.nginx_port = bench.free_port()  # rendered into the template; nothing listens
        self.turnpike = None

    def start(self):
        self.upstream = self.start_nginx("upstream", bench.BENCH_DIR / "nginx" /
                                         "upstream.conf.in", self.upstream_port)
        self.turnpike = self.start_turnpike("turnpike")


class Admin:
    """The admin API over http.client: one connection per request (as most clients do), no
    proxy from the environment. Returns (status, parsed JSON or None, headers)."""

    def __init__(self, port, token):
        self.port = port
        self.token = token

    def call(self, method, path, body=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Authorization": f"Bearer {self.token}"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                parsed = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                parsed = raw.decode(errors="replace")[:500]
            return resp.status, parsed, dict(resp.getheaders())
        finally:
            conn.close()

    def ok(self, method, path, body=None):
        status, parsed, _ = self.call(method, path, body)
        if not 200 <= status <= 299:
            raise HarnessError(f"{method} {path} answered {status}: {parsed}")
        return parsed

    def list_names(self, collection, field="name"):
        names, after = [], None
        while True:
            path = f"/{collection}?size=1000" + (f"&after={after}" if after else "")
            page = self.ok("GET", path)
            names += [e.get(field) for e in page["data"]]
            after = page.get("next")
            if not after:
                return names


def proxy_get(port, path, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def configure(stack, admin):
    """The stable part, in one PUT /config, then the stable consumer's key (only a POST mints
    one), waiting until every proxy worker serves it."""
    upstream = f"http://127.0.0.1:{stack.upstream_port}"

    def route(name, path, **extra):
        return {"name": name, "service": "soak-upstream", "paths": [path], "strip_path": False,
                **extra}

    config = {
        "services": [{"name": "soak-upstream", "targets": [{"url": upstream, "weight": 100}]},
                     {"name": "soak-websocket",
                      "targets": [{"url": f"http://127.0.0.1:{stack.tunnels.port}"}]}],
        "routes": [
            {"name": "stable-ws", "service": "soak-websocket", "paths": ["/stable/ws"]},
            route("stable-plain", "/stable/plain"),
            route("stable-key", "/stable/key", auth={"type": "api_key"},
                  rate_limit_policies=["soak-key-never-refuses"]),
            route("stable-limited", "/stable/limited",
                  rate_limit_policies=["soak-ip-never-refuses"]),
        ],
        # Limits no run can reach: evaluated on every request, never refusing.
        "rate_limit_policies": [
            {"name": "soak-key-never-refuses", "limit": 1000000000000, "window_s": 60,
             "key_by": "consumer"},
            {"name": "soak-ip-never-refuses", "limit": 1000000000000, "window_s": 1,
             "algorithm": "fixed_window", "key_by": "ip"},
        ],
        "consumers": [{"username": "soak-client"}],
    }
    admin.ok("PUT", "/config", config)
    key = admin.ok("POST", "/consumers/soak-client/keys?wait_for_proxy=true", {})
    stack.api_key = key["key"]
    for path, headers in (("/stable/plain", None), ("/stable/key", {"apikey": stack.api_key}),
                          ("/stable/limited", None)):
        status = proxy_get(stack.turnpike.proxy_port, path, headers)
        if status != 200:
            raise HarnessError(f"stable route {path} answered {status} before the run")
    if proxy_get(stack.turnpike.proxy_port, "/stable/key") != 401:
        raise HarnessError("stable route /stable/key answers without a key")


# --------------------------------------------------------------------------------------------
# WebSocket tunnels

class WebSocketLoad(threading.Thread):
    """An echo server and the tunnels through Turnpike to it, on one asyncio loop of its own.
    start() brings the server up (`port`); open_tunnels() connects them all through the proxy;
    close() ends them cleanly and returns what they saw."""

    def __init__(self, tunnels, interval_s):
        super().__init__(name="tunnels", daemon=True)
        self.count = tunnels
        self.interval_s = interval_s
        self.port = None
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stopping = None
        self.stats = [{"messages": 0, "error": None} for _ in range(tunnels)]
        self.opened = 0
        self.tasks = []

    def run(self):
        asyncio.set_event_loop(self.loop)
        self.stopping = asyncio.Event()
        self.loop.run_until_complete(self._serve())

    async def _serve(self):
        async def echo(websocket, path=None):
            async for message in websocket:
                await websocket.send(message)

        async with websockets.serve(echo, "127.0.0.1", 0) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self.stopping.wait()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def start(self):
        super().start()
        if not self.ready.wait(10):
            raise HarnessError("the WebSocket echo server did not start")

    async def _tunnel(self, index, url, opened):
        stats = self.stats[index]
        try:
            async with websockets.connect(url, open_timeout=10, close_timeout=5) as websocket:
                self.opened += 1
                if self.opened == self.count:
                    opened.set()
                while not self.stopping.is_set():
                    message = f"{index}:{stats['messages']}:" + "x" * 64
                    await websocket.send(message)
                    echo = await asyncio.wait_for(websocket.recv(), 10)
                    if echo != message:
                        raise RuntimeError(f"echo of message {stats['messages']} differs")
                    stats["messages"] += 1
                    try:
                        await asyncio.wait_for(self.stopping.wait(), self.interval_s)
                    except asyncio.TimeoutError:
                        pass
        except Exception as e:  # reported as the tunnel's error
            stats["error"] = f"tunnel {index} after {stats['messages']} messages: " \
                             f"{type(e).__name__}: {e}"
            opened.set()

    def open_tunnels(self, proxy_port, path):
        """Opens every tunnel; raises when they are not all open within 10 s."""
        url = f"ws://127.0.0.1:{proxy_port}{path}"

        async def open_all():
            opened = asyncio.Event()
            self.tasks = [asyncio.ensure_future(self._tunnel(i, url, opened))
                          for i in range(self.count)]
            await asyncio.wait_for(opened.wait(), 10)

        asyncio.run_coroutine_threadsafe(open_all(), self.loop).result(15)
        errors = [t["error"] for t in self.stats if t["error"]]
        if errors or self.opened != self.count:
            raise HarnessError(f"WebSocket tunnels did not open: {errors}")

    def close(self):
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.join(timeout=20)
        return {"tunnels": self.count, "interval_ms": round(self.interval_s * 1000),
                "messages": sum(t["messages"] for t in self.stats),
                "dropped": [t["error"] for t in self.stats if t["error"]]}


# --------------------------------------------------------------------------------------------
# Config churn

class Churn(threading.Thread):
    """One admin write per tick (fixed rate: a slow write makes the next one start at once, and
    is counted late), through cycles of create / update / delete. Once asked to stop, it
    finishes the cycle it is in, so that every churned entity is deleted again."""

    def __init__(self, admin, upstream_url, interval_s):
        super().__init__(name="churn", daemon=True)
        self.admin = admin
        self.upstream_url = upstream_url
        self.interval_s = interval_s
        self.stop_requested = threading.Event()
        self.lock = threading.Lock()
        self.writes = []  # (t_monotonic, seconds, ok, label)
        self.errors = []
        self.cycles = 0
        self.late_ticks = 0
        self.by_op = {}
        self.successful = 0
        self.crashed = None

    def cycle_steps(self, k):
        """The writes of cycle k: (label, method, path, body or callable, expected statuses,
        what to keep from the answer)."""
        svc, pol, con, rte = f"churn-svc-{k}", f"churn-pol-{k}", f"churn-con-{k}", f"churn-rt-{k}"
        algorithm = ("sliding_window", "fixed_window", "token_bucket")[k % 3]
        service = {"name": svc, "targets": [{"url": self.upstream_url, "weight": 100}],
                   "retries": 1, "tags": ["soak-churn"]}
        if k % 2:
            service["health_check"] = {"path": "/healthz", "interval_ms": 500}
        keyed_route = {"name": rte, "service": svc, "paths": ["/churn/a", "/churn/b"],
                       "strip_path": False, "auth": {"type": "api_key"},
                       "allow_groups": ["churners"], "rate_limit_policies": [pol],
                       "tags": ["soak-churn"]}
        ids = {}
        return [
            ("create service", "POST", "/services", service, {201}, None),
            ("duplicate service", "POST", "/services", service, {409}, None),
            ("create policy", "POST", "/rate-limit-policies",
             {"name": pol, "limit": 200, "window_s": 1, "algorithm": algorithm, "key_by": "ip",
              "tags": ["soak-churn"]}, {201}, None),
            ("create consumer", "POST", "/consumers",
             {"username": con, "groups": ["churners"], "rate_limit_policies": [pol],
              "tags": ["soak-churn"]}, {201}, None),
            ("create key (supplied)", "POST", f"/consumers/{con}/keys", {"key": CHURN_KEY},
             {201}, lambda body: ids.__setitem__("supplied", body["id"])),
            ("create key (minted)", "POST", f"/consumers/{con}/keys", {}, {201},
             lambda body: ids.__setitem__("minted", body["id"])),
            ("create route", "POST", "/routes",
             {"name": rte, "service": svc, "paths": ["/churn/a"], "strip_path": False,
              "tags": ["soak-churn"]}, {201}, None),
            ("update service", "PATCH", f"/services/{svc}",
             {"read_timeout_ms": 5000, "targets": [{"url": self.upstream_url, "weight": 50}]},
             {200}, None),
            ("update route", "PATCH", f"/routes/{rte}",
             {"auth": {"type": "api_key"}, "allow_groups": ["churners"],
              "rate_limit_policies": [pol]}, {200}, None),
            ("delete service in use", "DELETE", f"/services/{svc}", None, {400}, None),
            ("update policy", "PATCH", f"/rate-limit-policies/{pol}", {"limit": 100}, {200},
             None),
            ("update consumer", "PATCH", f"/consumers/{con}",
             {"groups": ["churners", "extra"]}, {200}, None),
            ("replace route", "PUT", f"/routes/{rte}", keyed_route, {200}, None),
            ("delete key (minted)", "DELETE", lambda: f"/consumers/{con}/keys/{ids['minted']}",
             None, {204}, None),
            ("delete key (supplied)", "DELETE",
             lambda: f"/consumers/{con}/keys/{ids['supplied']}", None, {204}, None),
            ("delete route", "DELETE", f"/routes/{rte}", None, {204}, None),
            ("delete consumer", "DELETE", f"/consumers/{con}", None, {204}, None),
            ("delete policy", "DELETE", f"/rate-limit-policies/{pol}", None, {204}, None),
            ("delete service", "DELETE", f"/services/{svc}", None, {204}, None),
        ]

    def record(self, label, started, seconds, ok, status, error=None):
        with self.lock:
            self.writes.append((started, seconds, ok, label))
            op = self.by_op.setdefault(label, {"writes": 0, "errors": 0})
            op["writes"] += 1
            if ok:
                if status is not None and 200 <= status <= 299:
                    self.successful += 1
            else:
                op["errors"] += 1
                self.errors.append(error)

    def run(self):
        try:
            self._run()
        except Exception as e:  # a bug in the churn itself must not pass as "no errors"
            self.crashed = f"{type(e).__name__}: {e}"
            with self.lock:
                self.errors.append(f"churn thread failed: {self.crashed}")

    def _run(self):
        next_tick = time.monotonic()
        k = 0
        while not self.stop_requested.is_set():
            for label, method, path, body, expected, keep in self.cycle_steps(k):
                now = time.monotonic()
                if now < next_tick:
                    time.sleep(next_tick - now)
                elif now - next_tick > self.interval_s / 2:
                    self.late_ticks += 1
                next_tick = max(next_tick + self.interval_s, time.monotonic() - self.interval_s)
                if callable(path):
                    path = path()
                started = time.monotonic()
                try:
                    status, parsed, _ = self.admin.call(method, path, body)
                except (OSError, http.client.HTTPException) as e:
                    self.record(label, started, time.monotonic() - started, False, None,
                                f"{method} {path} ({label}): no answer: {e}")
                    if isinstance(e, ConnectionRefusedError):
                        return  # the admin API is gone: liveness reports it
                    continue
                seconds = time.monotonic() - started
                ok = status in expected
                error = None
                if ok and keep is not None:
                    try:
                        keep(parsed)
                    except (KeyError, TypeError) as e:
                        ok, error = False, f"{method} {path} ({label}): answer lacks {e}: {parsed}"
                elif not ok:
                    error = (f"{method} {path} ({label}): {status}, expected "
                             f"{'/'.join(map(str, sorted(expected)))}: {parsed}")
                self.record(label, started, seconds, ok, status, error)
            self.cycles += 1
            k += 1

    def by_operation(self):
        """Per kind of write: how many, how many failed, p50 and max milliseconds."""
        with self.lock:
            rows = list(self.writes)
        out = {}
        for label, counts in self.by_op.items():
            ms = [w[1] * 1000 for w in rows if w[3] == label]
            out[label] = dict(counts, ms_p50=median(ms), ms_max=max(ms) if ms else None)
        return out

    def slow_writes(self, t0, threshold_s=0.25):
        """Writes slower than the threshold: [t since the start, ms, kind], for the JSON."""
        with self.lock:
            return [[round(w[0] - t0, 2), round(w[1] * 1000, 1), w[3]] for w in self.writes
                    if w[1] >= threshold_s]

    def window_stats(self, t0, t1):
        with self.lock:
            rows = [w for w in self.writes if t0 <= w[0] < t1]
        seconds = [w[1] * 1000 for w in rows]
        return {"writes": len(rows), "errors": sum(1 for w in rows if not w[2]),
                "write_ms_p50": median(seconds), "write_ms_p99": percentile(seconds, 99),
                "write_ms_max": max(seconds) if seconds else None}


# --------------------------------------------------------------------------------------------
# Resource sampling

class Sampler(threading.Thread):
    """VmRSS, threads and open fds of the turnpike process, every second."""

    def __init__(self, server, t0):
        super().__init__(name="sampler", daemon=True)
        self.server = server
        self.t0 = t0
        self.samples = []  # {"t", "rss_mib", "threads", "fds"}
        self.stop_requested = threading.Event()
        self.died_at = None

    def sample(self):
        pid = self.server.pid
        rss_kib = threads = None
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss_kib = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return {"t": round(time.monotonic() - self.t0, 2), "rss_mib": rss_kib / 1024,
                "threads": threads, "fds": fds}

    def run(self):
        while not self.stop_requested.is_set():
            if not self.server.alive():
                self.died_at = time.monotonic() - self.t0
                return
            try:
                self.samples.append(self.sample())
            except (OSError, TypeError, ValueError):
                pass  # exited between the check and the read: the next round sees it
            self.stop_requested.wait(1.0)

    def between(self, t0, t1, field):
        return [s[field] for s in self.samples if t0 <= s["t"] < t1]


# --------------------------------------------------------------------------------------------
# wrk

def start_wrk(port, requests, duration, connections, threads, timeout_s):
    env = dict(os.environ, SOAK_REQUESTS=";".join(requests))
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
            "--timeout", f"{timeout_s}s", "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}/"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=bench._die_with_parent)


def finish_wrk(proc, duration):
    try:
        out, err = proc.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise HarnessError(f"wrk did not finish:\n{out[-2000:]}\n{err[-2000:]}")
    line = next((l for l in out.splitlines() if l.startswith("SOAK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise HarnessError(f"wrk exited {proc.returncode} without a SOAK_JSON line:\n"
                           f"{out[-2000:]}\n{err[-2000:]}")
    w = json.loads(line[len("SOAK_JSON "):])
    seconds = w["duration_us"] / 1e6
    e = w["errors"]
    return {
        "requests": w["requests"],
        "rps": w["requests"] / seconds if seconds > 0 else 0.0,
        "statuses": {str(k): v for k, v in sorted(w["statuses"].items(), key=lambda x: x[0])},
        "socket_errors": e["connect"] + e["read"] + e["write"] + e["timeout"],
        "socket_error_detail": {k: e[k] for k in ("connect", "read", "write", "timeout")},
        "latency_ms": {k: w["latency_us"][k] / 1000 for k in ("p50", "p90", "p99", "max")},
    }


NO_RUN = {"requests": 0, "rps": 0.0, "statuses": {}, "socket_errors": 0,
          "socket_error_detail": {}, "latency_ms": {"p50": 0, "p90": 0, "p99": 0, "max": 0}}


def load_errors(run, intended):
    unexpected = {s: n for s, n in run["statuses"].items() if int(s) not in intended}
    run["unexpected_statuses"] = unexpected
    run["errors"] = run["socket_errors"] + sum(unexpected.values())
    return run["errors"]


# --------------------------------------------------------------------------------------------
# The run

def plan_windows(duration, window):
    windows, left = [], duration
    while left > 0:
        w = min(window, left)
        if windows and w < window / 2:
            windows[-1] += w  # no stub window at the end: the last one is a little longer
        else:
            windows.append(w)
        left -= w
    return windows


def final_checks(stack, admin, churn, version_before, problems):
    """The admin API still answers, the proxy serves the stored version, the stored version
    moved by exactly the successful writes, only stable entities are left, and the proxy still
    routes: stable routes 200, churned paths 404."""
    result = {}
    status, body, _ = admin.call("GET", "/health")
    result["health"] = status
    if status != 200:
        problems.append(f"GET /health answered {status} after the run: {body}")
    deadline = time.monotonic() + 10
    while True:
        st = admin.ok("GET", "/status")
        if st.get("proxy", {}).get("in_sync") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    result["status"] = st
    if not st.get("proxy", {}).get("in_sync"):
        problems.append(f"proxy workers not in sync 10 s after the last write: {st}")
    version_after = st.get("config_version")
    result["config_version"] = {"before": version_before, "after": version_after,
                                "successful_writes": churn.successful}
    if version_after is not None and version_after - version_before != churn.successful:
        problems.append(f"config_version moved by {version_after - version_before}, but "
                        f"{churn.successful} writes succeeded")
    left = {
        "routes": (admin.list_names("routes"), STABLE_ROUTES),
        "services": (admin.list_names("services"), STABLE_SERVICES),
        "rate-limit-policies": (admin.list_names("rate-limit-policies"), STABLE_POLICIES),
        "consumers": (admin.list_names("consumers", "username"), STABLE_CONSUMERS),
    }
    result["entities"] = {}
    for collection, (names, stable) in left.items():
        result["entities"][collection] = names
        if sorted(names) != sorted(stable):
            problems.append(f"{collection} after the run: {sorted(names)}, expected only "
                            f"{sorted(stable)}")
    keys = admin.ok("GET", "/consumers/soak-client/keys")["data"]
    result["stable_keys"] = len(keys)
    if len(keys) != 1:
        problems.append(f"soak-client has {len(keys)} keys after the run, expected 1")
    result["metrics"] = metrics_routes(admin, left["routes"][0])
    port = stack.turnpike.proxy_port
    checks = {"/stable/plain": (None, 200), "/stable/key": ({"apikey": stack.api_key}, 200),
              "/stable/limited": (None, 200), "/churn/a": ({"apikey": CHURN_KEY}, 404),
              "/churn/b": (None, 404)}
    result["proxy"] = {}
    for path, (headers, expected) in checks.items():
        got = proxy_get(port, path, headers)
        result["proxy"][path] = got
        if got != expected:
            problems.append(f"after the run, GET {path} answered {got}, expected {expected}")
    return result


def metrics_routes(admin, live_routes):
    """Reported only: the route labels of turnpike_http_requests_total in GET /metrics, and how
    many of them belong to routes that no longer exist (series kept after a route's delete)."""
    conn = http.client.HTTPConnection("127.0.0.1", admin.port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {admin.token}"})
        resp = conn.getresponse()
        text = resp.read().decode(errors="replace")
    finally:
        conn.close()
    if resp.status != 200:
        return {"status": resp.status}
    prefix = 'turnpike_http_requests_total{route="'
    labels = {line[len(prefix):].split('"', 1)[0] for line in text.splitlines()
              if line.startswith(prefix)}
    labels.discard("")
    gone = sorted(labels - set(live_routes))
    return {"status": 200, "route_labels": len(labels), "deleted_route_labels": len(gone),
            "bytes": len(text)}


def growth_verdict(name, base, end, pct, absolute, unit):
    if base is None or end is None:
        return {"what": name, "ok": False, "detail": "not enough samples"}
    limit = max(base * pct / 100, absolute)
    growth = end - base
    return {"what": name, "baseline": base, "end": end, "growth": growth, "limit": limit,
            "unit": unit, "ok": growth <= limit}


def slope_per_minute(samples, field, t_from):
    points = [(s["t"], s[field]) for s in samples if s["t"] >= t_from]
    if len(points) < 3:
        return None
    mt = statistics.fmean(p[0] for p in points)
    mv = statistics.fmean(p[1] for p in points)
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (v - mv) for t, v in points) / den * 60 if den else None


def exit_text(code):
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def fmt(value, spec, none="-"):
    return none if value is None else format(value, spec)


def statuses_text(statuses):
    return " ".join(f"{s}:{n}" for s, n in statuses.items()) or "-"


def run_soak(args, stack, report):
    problems = report["problems"]
    log(f"==> starting upstream and Turnpike in {stack.dir}")
    stack.tunnels = WebSocketLoad(args.tunnels, 0.25)
    stack.tunnels.start()
    stack.start()
    tp = stack.turnpike
    admin = Admin(tp.admin_port, stack.token)
    configure(stack, admin)
    if args.tunnels:
        stack.tunnels.open_tunnels(tp.proxy_port, "/stable/ws")
    version_before = admin.ok("GET", "/status")["config_version"]

    t0 = time.monotonic()
    sampler = Sampler(tp, t0)
    churn = Churn(admin, f"http://127.0.0.1:{stack.upstream_port}", args.interval_ms / 1000)
    sampler.start()
    if args.interval_ms:
        churn.start()

    stable_requests = ["/stable/plain", f"/stable/key|apikey: {stack.api_key}",
                       "/stable/limited"]
    churn_requests = [f"/churn/a|apikey: {CHURN_KEY}", "/churn/a", f"/churn/b|apikey: {CHURN_KEY}"]
    windows = plan_windows(args.duration, args.window)
    log(f"==> {args.duration} s of load in {len(windows)} windows; stable load "
        f"{args.connections} connections, churn load {args.churn_connections}, " +
        (f"one admin write every {args.interval_ms} ms" if args.interval_ms else
         "no admin writes (--interval-ms 0)"))
    header = (f"{'win':>3} {'t s':>5} {'stable req/s':>12} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'err':>4} | {'churn req/s':>11} {'p99 ms':>7} {'err':>4} {'statuses':<40} | "
              f"{'writes':>6} {'err':>3} {'w p99':>6} | {'RSS MiB':>7} {'fds':>4} {'thr':>3}")
    log(header)
    log("-" * len(header))
    report["windows"] = []
    dead = False
    for index, seconds in enumerate(windows, 1):
        w0 = time.monotonic() - t0
        stable_proc = start_wrk(tp.proxy_port, stable_requests, seconds, args.connections,
                                args.threads, args.wrk_timeout)
        churn_proc = None
        if args.churn_connections:
            churn_proc = start_wrk(tp.proxy_port, churn_requests, seconds,
                                   args.churn_connections, 1, args.wrk_timeout)
        stable = finish_wrk(stable_proc, seconds)
        churned = finish_wrk(churn_proc, seconds) if churn_proc else dict(NO_RUN)
        w1 = time.monotonic() - t0
        load_errors(stable, {200})
        load_errors(churned, CHURN_INTENDED)
        writes = churn.window_stats(t0 + w0, t0 + w1)
        rss = sampler.between(w0, w1, "rss_mib")
        fds = sampler.between(w0, w1, "fds")
        threads = sampler.between(w0, w1, "threads")
        row = {"window": index, "t_start_s": round(w0, 2), "t_end_s": round(w1, 2),
               "stable": stable, "churn": churned, "admin": writes,
               "rss_mib": {"median": median(rss), "max": max(rss) if rss else None},
               "fds": {"median": median(fds), "max": max(fds) if fds else None},
               "threads": {"median": median(threads), "max": max(threads) if threads else None}}
        report["windows"].append(row)
        log(f"{index:>3} {w1:>5.0f} {stable['rps']:>12,.0f} {stable['latency_ms']['p50']:>7.2f} "
            f"{stable['latency_ms']['p99']:>7.2f} {stable['errors']:>4} | "
            f"{churned['rps']:>11,.0f} {churned['latency_ms']['p99']:>7.2f} "
            f"{churned['errors']:>4} {statuses_text(churned['statuses']):<40.40} | "
            f"{writes['writes']:>6} {writes['errors']:>3} {fmt(writes['write_ms_p99'], '.0f'):>6}"
            f" | {fmt(median(rss), '.1f'):>7} {fmt(median(fds), '.0f'):>4} "
            f"{fmt(median(threads), '.0f'):>3}")
        for name, run in (("stable", stable), ("churn", churned)):
            if run["errors"]:
                problems.append(f"window {index}, {name} load: {run['socket_errors']} socket "
                                f"errors {run['socket_error_detail']}, unexpected statuses "
                                f"{run['unexpected_statuses']}")
        if not tp.alive():
            dead = True
            break
    load_end = time.monotonic() - t0
    report["tunnels"] = stack.tunnels.close()
    for dropped in report["tunnels"]["dropped"]:
        problems.append(f"WebSocket {dropped}")

    churn.stop_requested.set()
    if args.interval_ms:
        churn.join(timeout=60)
    if churn.is_alive():
        problems.append("the churn did not finish its last cycle within 60 s")
    report["churn"] = {"interval_ms": args.interval_ms, "cycles": churn.cycles,
                       "writes": len(churn.writes), "successful_writes": churn.successful,
                       "errors": len(churn.errors), "late_ticks": churn.late_ticks,
                       "by_operation": churn.by_operation(),
                       "slow_writes_over_250ms": churn.slow_writes(t0),
                       **{k: v for k, v in churn.window_stats(0, float("inf")).items()
                          if k.startswith("write_ms")}}
    for error in churn.errors[:50]:
        problems.append(f"admin write: {error}")
    if len(churn.errors) > 50:
        problems.append(f"... and {len(churn.errors) - 50} more failed admin writes")

    if dead or not tp.alive():
        problems.append(f"turnpike died during the run ({exit_text(tp.proc.poll())}), "
                        f"{sampler.died_at or load_end:.0f} s in; its log:\n{tp.tail(40)}")
    else:
        try:
            report["final"] = final_checks(stack, admin, churn, version_before, problems)
        except (OSError, http.client.HTTPException, HarnessError) as e:
            problems.append(f"final checks failed: {e}")
        if not tp.alive():
            problems.append(f"turnpike died at the end ({exit_text(tp.proc.poll())}); its log:"
                            f"\n{tp.tail(40)}")
    sampler.stop_requested.set()
    sampler.join(timeout=5)
    report["samples"] = sampler.samples

    # Resource verdicts: warm-up is the first window; baseline the second; end the last 20%.
    first = windows[0]
    base_t = (first, first + (windows[1] if len(windows) > 1 else first))
    end_t = (load_end - 0.2 * (load_end - first) if len(windows) > 1 else first, load_end)
    if len(windows) < 3:
        problems.append("too short for resource verdicts: needs at least 3 windows "
                        f"(--duration >= {3 * args.window} s with --window {args.window})")

    def med(field, span):
        return median(sampler.between(span[0], span[1], field))

    verdicts = [
        growth_verdict("RSS", med("rss_mib", base_t), med("rss_mib", end_t),
                       args.rss_growth_pct, args.rss_growth_mib, "MiB"),
        growth_verdict("open fds", med("fds", base_t), med("fds", end_t), 20, 32, "fds"),
        growth_verdict("threads", med("threads", base_t), med("threads", end_t), 20, 8,
                       "threads"),
    ]
    report["resources"] = {
        "baseline_window_s": base_t, "end_span_s": end_t, "verdicts": verdicts,
        "rss_slope_mib_per_min": slope_per_minute(sampler.samples, "rss_mib", first),
        "fds_slope_per_min": slope_per_minute(sampler.samples, "fds", first),
        "rss_mib_max": max((s["rss_mib"] for s in sampler.samples), default=None),
    }
    if tp.alive():  # a dead gateway has failed already; its samples stop early
        for v in verdicts:
            if "detail" in v:
                problems.append(f"{v['what']}: {v['detail']} for a verdict")
            elif not v["ok"]:
                problems.append(f"{v['what']} grew from {v['baseline']:.1f} to {v['end']:.1f} "
                                f"{v['unit']} (limit +{v['limit']:.1f})")
    return report


def print_summary(report):
    windows = report.get("windows", [])
    stable_req = sum(w["stable"]["requests"] for w in windows)
    churn_req = sum(w["churn"]["requests"] for w in windows)
    stable_err = sum(w["stable"]["errors"] for w in windows)
    churn_err = sum(w["churn"]["errors"] for w in windows)
    churn_statuses = {}
    for w in windows:
        for s, n in w["churn"]["statuses"].items():
            churn_statuses[s] = churn_statuses.get(s, 0) + n
    log("")
    log(f"stable load: {stable_req:,} requests, {stable_err} errors (anything but 200)")
    log(f"churn load:  {churn_req:,} requests, {churn_err} errors (socket errors, statuses "
        f"other than {'/'.join(map(str, sorted(CHURN_INTENDED)))}); statuses "
        f"{statuses_text(dict(sorted(churn_statuses.items())))}")
    t = report.get("tunnels")
    if t:
        log(f"WebSockets:  {t['tunnels']} tunnels open through the run, {t['messages']:,} echoes "
            f"(one per tunnel every {t['interval_ms']} ms), {len(t['dropped'])} dropped")
    c = report.get("churn")
    if c:
        log(f"admin churn: {c['writes']} writes ({c['successful_writes']} successful, the rest "
            f"refused as intended) in {c['cycles']} cycles, {c['errors']} errors; write p50 "
            f"{fmt(c['write_ms_p50'], '.1f')} ms, p99 {fmt(c['write_ms_p99'], '.1f')} ms, max "
            f"{fmt(c['write_ms_max'], '.1f')} ms; {c['late_ticks']} ticks late")
        slowest = sorted(c["by_operation"].items(), key=lambda kv: -(kv[1]["ms_max"] or 0))[:3]
        log("  slowest kinds of write (max ms): " +
            ", ".join(f"{label} {fmt(o['ms_max'], '.0f')}" for label, o in slowest))
    p99s = [w["stable"]["latency_ms"]["p99"] for w in windows]
    if p99s:
        log(f"stable p99 per window (ms): {' '.join(f'{p:.1f}' for p in p99s)}  (reported only)")
    r = report.get("resources")
    if r:
        for v in r["verdicts"]:
            if "baseline" in v:
                log(f"{v['what']:<9} baseline {v['baseline']:.1f} -> end {v['end']:.1f} "
                    f"{v['unit']} (growth {v['growth']:+.1f}, limit +{v['limit']:.1f}): "
                    f"{'flat' if v['ok'] else 'GREW'}")
            else:
                log(f"{v['what']:<9} {v['detail']}")
        log(f"RSS trend after warm-up {fmt(r['rss_slope_mib_per_min'], '+.2f')} MiB/min, "
            f"fds {fmt(r['fds_slope_per_min'], '+.2f')}/min; RSS max "
            f"{fmt(r['rss_mib_max'], '.1f')} MiB")
    f = report.get("final")
    if f:
        v = f["config_version"]
        log(f"after the run: health {f['health']}, in sync "
            f"{f['status'].get('proxy', {}).get('in_sync')}, config_version {v['before']} -> "
            f"{v['after']} ({v['successful_writes']} successful writes), entities left "
            f"{sum(len(n) for n in f['entities'].values())}, proxy {f['proxy']}")
        m = f.get("metrics", {})
        if "route_labels" in m:
            log(f"/metrics: series for {m['route_labels']} routes, {m['deleted_route_labels']} "
                f"of them deleted; {m['bytes']:,} bytes (reported only)")


def parse_duration(text):
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    factor = units.get(text[-1:], None)
    number = text[:-1] if factor else text
    try:
        return round(float(number) * (factor or 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 60, 60s, 5m)")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", required=True, help="build with app/turnpike")
    p.add_argument("--duration", type=parse_duration, default=60,
                   help="how long the load runs: 60, 60s, 5m, 1h (default 60 s)")
    p.add_argument("--minutes", type=float, help="the same, in minutes (e.g. 30)")
    p.add_argument("--window", type=int,
                   help="seconds per wrk window (default 5 below 2 minutes, else 10)")
    p.add_argument("--interval-ms", type=int, default=100,
                   help="one admin write every this many ms (default 100; 0 = none: the "
                        "load alone, to tell what the churn adds)")
    p.add_argument("--connections", type=int, default=24,
                   help="wrk connections of the stable load (default 24)")
    p.add_argument("--threads", type=int, default=2, help="its wrk threads (default 2)")
    p.add_argument("--churn-connections", type=int, default=8,
                   help="wrk connections of the churn load (default 8; 0 = none)")
    p.add_argument("--tunnels", type=int, default=8,
                   help="WebSocket tunnels open through the run (default 8; 0 = none)")
    p.add_argument("--workers", type=int, default=2,
                   help="Turnpike --workers and the upstream's worker_processes (default 2)")
    p.add_argument("--wrk-timeout", type=int, default=5,
                   help="seconds before wrk counts a request as timed out (default 5)")
    p.add_argument("--rss-growth-pct", type=float, default=20,
                   help="allowed RSS growth in percent of the baseline (default 20) ...")
    p.add_argument("--rss-growth-mib", type=float, default=16,
                   help="... or in MiB, whichever is larger (default 16)")
    p.add_argument("--out", default=os.environ.get("OUT"),
                   help="JSON results (default $OUT, else <build-dir>/soak-results.json)")
    p.add_argument("--keep-tmp", action="store_true",
                   help="keep the temporary directory (configs, logs, database) afterwards")
    args = p.parse_args(argv)
    if args.minutes is not None:
        args.duration = round(args.minutes * 60)
    args.window = args.window or (5 if args.duration < 120 else 10)
    if (args.duration < 1 or args.window < 1 or args.interval_ms < 0 or args.connections < 1
            or args.threads < 1 or args.churn_connections < 0 or args.workers < 1):
        p.error("--duration, --window, --connections, --threads and --workers must be "
                "positive, --interval-ms and --churn-connections not negative")
    args.threads = min(args.threads, args.connections)
    args.out = args.out or str(Path(args.build_dir) / "soak-results.json")
    return args


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            raise HarnessError(f"{tool} is missing: run ./scripts/soak, which installs it")
    if not (Path(args.build_dir) / "app" / "turnpike").exists():
        raise HarnessError(f"{args.build_dir}/app/turnpike is missing: build it first")

    started = time.monotonic()
    machine = bench.machine_info(args)
    report = {"machine": machine,
              "options": {k: v for k, v in vars(args).items() if k not in ("out", "keep_tmp")},
              "problems": []}
    log(f"==> {machine['nproc']} x {machine['cpu_model']}, {machine['nginx']}, {machine['wrk']},"
        f" {machine['turnpike']} ({machine['commit']}, {machine['build_type']}), "
        f"load {' '.join(machine['loadavg_at_start'])}")
    stack = SoakStack(args)
    try:
        run_soak(args, stack, report)
    except HarnessError as e:
        report["problems"].append(str(e))
    finally:
        stack.stop()
        report["elapsed_s"] = time.monotonic() - started
        report["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
        failed = bool(report["problems"])
        if failed or args.keep_tmp:
            log(f"==> configs, logs and database kept in {stack.dir}")
        else:
            shutil.rmtree(stack.dir, ignore_errors=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print_summary(report)
    log(f"\n==> results: {args.out} ({report['elapsed_s']:.0f} s for {args.duration} s of load)")
    if failed:
        log("==> FAILED:")
        for problem in report["problems"]:
            log(f"  - {problem}")
        return 1
    log("==> passed: no errors, RSS, fds and threads flat, the gateway alive and consistent")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except HarnessError as e:
        print(f"soak: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
