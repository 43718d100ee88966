#!/usr/bin/env python3
"""Load benchmark: tower-range-serve against its own handler without the layer,
tower-http's ServeDir, nginx (when installed, with and without its open-file cache) and
a bare hyper server (the floor), in one run, alternating.

    python3 serve/benches/load.py [--seconds 4] [--rounds 3] [--layer-rounds 8]
        [--paused 200] [--read-chunk KIB]

Needs wrk, and for HTTP/2 h2load (Debian: apt-get install wrk nginx-light
nghttp2-client). Builds the release examples, makes a 1 GiB file under target/load/,
keeps it in page cache (locked there for the run), starts every server on 127.0.0.1,
and prints Markdown tables.
Every request goes to 127.0.0.1 only.

Each server runs on CPU 0 (nginx with one worker) and the load generator on CPU 1, so
that a server's CPU per request is its own and the servers compare core for core. For
the large range, the same run measures the limit of the machine: a bare loop of pread
and write over loopback (benches/loopback.rs), at the layer's read size; for the whole
200s, the floor: hyper alone on a current-thread runtime (benches/hyper_floor.rs),
answering from memory, or reading the file per request with std::fs::read. Each cell
is the median of the rounds, its CPU per request too.

Then the layer's own cost: the server with and without the layer, alternating, for
--layer-rounds rounds of 2 s, on 4 KiB 200s and on a 64 KiB single range (the whole of
a 64 KiB file, which the handler alone answers with a 200 of the same bytes).
"""

import argparse
import os
import statistics
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from ports import wait_port

# The workspace: serve/benches/ is two levels below it.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "target", "load")
GIB = 1 << 30
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def make_data():
    os.makedirs(DATA, exist_ok=True)
    files = {"big.bin": GIB, "1m.bin": 1 << 20, "64k.bin": 1 << 16, "4k.bin": 4096}
    for name, size in files.items():
        path = os.path.join(DATA, name)
        if not os.path.exists(path) or os.path.getsize(path) != size:
            block = bytes(random.Random(1).getrandbits(8) for _ in range(1 << 16))
            with open(path, "wb") as f:
                for _ in range(size // len(block)):
                    f.write(block)
                f.write(block[: size % len(block)])
        # Into page cache, twice: a first read leaves readahead marks on some pages,
        # and a read with RWF_NOWAIT (the layer's, in place) refuses a marked page
        # even when it is cached; the second read clears them, as a server's first
        # requests would.
        for _ in range(2):
            with open(path, "rb") as f:
                while f.read(1 << 24):
                    pass


def pin_data():
    """Locks the files in memory for the rest of the run (mmap with MAP_LOCKED): on a
    machine where other work reclaims page cache, a range would otherwise now and then
    be read from disk, in one server's turn and not another's. Returns the mappings,
    or None (with a warning) where locking is not allowed."""
    import ctypes
    import ctypes.util
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    prot_read, map_shared, map_locked, map_populate = 0x1, 0x01, 0x2000, 0x8000
    maps = []
    for name in sorted(os.listdir(DATA)):
        path = os.path.join(DATA, name)
        fd = os.open(path, os.O_RDONLY)
        addr = libc.mmap(None, os.path.getsize(path), prot_read, map_shared | map_locked | map_populate, fd, 0)
        os.close(fd)
        if addr in (None, ctypes.c_void_p(-1).value):
            print(f"warning: cannot lock {name} in memory: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
            return None
        maps.append(addr)
    return maps


SERVER_CPU, CLIENT_CPU = "0", "1"


class Server:
    def __init__(self, name, cmd, port, pid_file=None):
        self.name, self.port = name, port
        cmd = ["taskset", "-c", SERVER_CPU] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=dict(os.environ, RUST_LOG="warn"))
        wait_port(port)
        self.pid_file = pid_file

    def alias(self, name, port):
        """The same process, measured on another of its ports."""
        other = object.__new__(Server)
        other.name, other.port, other.proc, other.pid_file = name, port, self.proc, self.pid_file
        return other

    def pids(self):
        if self.pid_file is None:
            return [self.proc.pid]
        # nginx: the master and its workers
        master = int(open(self.pid_file).read())
        out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
        return [master] + [int(p) for p in out.stdout.split()]

    def cpu_seconds(self):
        total = 0
        for pid in self.pids():
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / TICK

    def rss_kib(self, field="VmRSS"):
        total = 0
        for pid in self.pids():
            for line in open(f"/proc/{pid}/status"):
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        return total

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def bench_binary(name, target=os.path.join(ROOT, "target")):
    """The newest release build of benches/{name}.rs."""
    deps = os.path.join(target, "release", "deps")
    found = [os.path.join(deps, f) for f in os.listdir(deps)
             if f.startswith(name + "-") and "." not in f]
    return max(found, key=os.path.getmtime)


def start_servers(base, read_chunk=None):
    release = os.path.join(ROOT, "target", "release")
    examples = os.path.join(release, "examples")
    chunk = ["--read-chunk", str(read_chunk)] if read_chunk else []
    servers = [
        Server("tower-range (serve)", [f"{release}/tower-range-serve", "--root", DATA, "--addr", f"127.0.0.1:{base}"] + chunk, base),
        Server("handler alone (--no-layer)", [f"{release}/tower-range-serve", "--root", DATA, "--addr", f"127.0.0.1:{base + 1}", "--no-layer"], base + 1),
        Server("tower-http ServeDir", [f"{examples}/serve_dir", "--root", DATA, "--addr", f"127.0.0.1:{base + 2}"], base + 2),
    ]
    floor = bench_binary("hyper_floor")
    servers += [
        Server("hyper floor (static)", [floor, "--addr", f"127.0.0.1:{base + 7}", "--static", DATA], base + 7),
        Server("hyper floor (fs::read)", [floor, "--addr", f"127.0.0.1:{base + 8}", "--read", DATA], base + 8),
    ]
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx:
        conf_dir = tempfile.mkdtemp(prefix="tower-range-nginx-")
        pid = os.path.join(conf_dir, "nginx.pid")
        with open(os.path.join(conf_dir, "nginx.conf"), "w") as f:
            f.write(f"""
worker_processes 1; daemon off; pid {pid}; error_log {conf_dir}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off; sendfile off; tcp_nodelay on; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{base + 3}; root {DATA}; }}
  server {{ listen 127.0.0.1:{base + 5} http2; root {DATA}; }}
  server {{ listen 127.0.0.1:{base + 6}; root {DATA}; open_file_cache max=1000; }}
}}
""")
        s = Server("nginx (sendfile off)", [nginx, "-c", os.path.join(conf_dir, "nginx.conf")], base + 3, pid)
        s.h2_port = base + 5
        time.sleep(0.3)
        # The same worker with open_file_cache on (revalidated after 60 s, its default).
        servers += [s, s.alias("nginx (open_file_cache)", base + 6)]
    return servers


def start_limit(base, read_chunk):
    """The pread+write loop, at the layer's read size (32 KiB unless --read-chunk)."""
    cmd = [bench_binary("loopback"), "--file", os.path.join(DATA, "big.bin"),
           "--addr", f"127.0.0.1:{base + 4}", "--chunk-kib", str(read_chunk or 32)]
    return Server("pread+write loop (the limit)", cmd, base + 4)


def layer_cost(ours, alone, seconds, rounds):
    """The layer's own CPU per request: the server with and without it, alternating,
    medians of `rounds`; on 4 KiB 200s and on a 64 KiB single range."""
    cases = [
        ("4 KiB 200s, c=16", dict(conns=16, threads=1, path="/4k.bin")),
        ("64 KiB single range, c=64", dict(conns=64, threads=1, path="/64k.bin", headers=["Range: bytes=0-65535"])),
    ]
    out = []
    for name, kw in cases:
        cpu = {ours.name: [], alone.name: []}
        rps = {ours.name: [], alone.name: []}
        for _ in range(rounds):
            for server in (ours, alone):
                r = measure(server, seconds, **kw)
                cpu[server.name].append(r["cpu"] / r["requests"] * 1e6)
                rps[server.name].append(r["rps"])
        diffs = [a - b for a, b in zip(cpu[ours.name], cpu[alone.name])]
        out.append((name, statistics.median(cpu[ours.name]), statistics.median(cpu[alone.name]),
                    statistics.median(diffs), statistics.median(rps[ours.name]),
                    statistics.median(rps[alone.name]), diffs))
    return out


def wrk(port, seconds, conns, threads, script=None, headers=(), path="/big.bin", h2=False):
    if h2:
        return h2load(port, seconds, conns, headers, path)
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    reqs = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", out)
    scale = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[m.group(2)]
    lat = {}
    for q in ("50", "99"):
        m2 = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)", out)
        lat[q] = float(m2.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m2.group(2)] if m2 else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} error responses on port {port}:\n{out}")
    return {"rps": reqs, "bps": float(m.group(1)) * scale, "p50": lat["50"], "p99": lat["99"]}


def h2load(port, seconds, conns, headers, path):
    """HTTP/2 with prior knowledge: h2load for `seconds`, one stream per connection."""
    cmd = ["taskset", "-c", CLIENT_CPU, "h2load", f"-c{conns}", "-m1", f"-D{seconds}",
           "-w30", "-W30"]  # 1 GiB windows: the client never holds the server back
    for h in headers:
        cmd += ["-H", h]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"finished in ([\d.]+)(s|ms), ([\d.]+) req/s, ([\d.]+)([KMG]?B)/s", out)
    if not m:
        raise RuntimeError(out)
    scale = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[m.group(5)]
    fails = re.search(r"(\d+) failed", out)
    if fails and int(fails.group(1)):
        raise RuntimeError(f"h2load failures on port {port}:\n{out}")
    return {"rps": float(m.group(3)), "bps": float(m.group(4)) * scale, "p50": float("nan"), "p99": float("nan")}


def measure(server, seconds, **kw):
    before = server.cpu_seconds()
    port = getattr(server, "h2_port", server.port) if kw.get("h2") else server.port
    r = wrk(port, seconds, **kw)
    r["cpu"] = server.cpu_seconds() - before
    r["requests"] = r["rps"] * seconds
    r["bytes"] = r["bps"] * seconds
    return r


RANDOM_LUA = """
math.randomseed(os.time())
request = function()
  local off = math.random(0, %d) * 65536
  return wrk.format("GET", "/big.bin", {["Range"] = "bytes=" .. off .. "-" .. (off + 65535)})
end
""" % (GIB // 65536 - 1)


def paused_rss(server, count):
    """Opens `count` connections that ask for 512 MiB and stop reading; returns the
    growth of the server's RSS per connection, in KiB."""
    time.sleep(0.5)
    before = server.rss_kib()
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", server.port))
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-536870911\r\n\r\n")
        socks.append(s)
    for s in socks:
        s.recv(1024)
    time.sleep(2)
    after = server.rss_kib()
    ok = wrk(server.port, 2, conns=4, threads=1, path="/4k.bin")["rps"] > 0
    for s in socks:
        s.close()
    return (after - before) / count, ok


def h2_literal(index, value):
    """An HPACK field without indexing, its name from the static table (RFC 7541 §6.2.2)."""
    head = bytes([index]) if index < 15 else bytes([15, index - 15])
    return head + bytes([len(value)]) + value


def paused_h2_rss(server, conns, streams):
    """Opens `conns` HTTP/2 connections (prior knowledge) of `streams` streams that each
    ask for 512 MiB, with Chromium's windows (6 MiB a stream, 15 MiB more for the
    connection), and never reads; returns the growth of the server's RSS per stream,
    in KiB."""
    time.sleep(0.5)
    before = server.rss_kib()
    socks = []
    settings = (0x4).to_bytes(2, "big") + (6 << 20).to_bytes(4, "big")
    for _ in range(conns):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", getattr(server, "h2_port", server.port)))
        frames = (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                  + len(settings).to_bytes(3, "big") + b"\x04\x00" + (0).to_bytes(4, "big") + settings
                  + (4).to_bytes(3, "big") + b"\x08\x00" + (0).to_bytes(4, "big") + (15 << 20).to_bytes(4, "big"))
        for i in range(streams):
            block = (b"\x82\x86" + h2_literal(4, b"/big.bin") + h2_literal(1, b"x")
                     + h2_literal(50, b"bytes=0-536870911"))
            frames += len(block).to_bytes(3, "big") + b"\x01\x05" + (2 * i + 1).to_bytes(4, "big") + block
        s.sendall(frames)
        socks.append(s)
    time.sleep(3)
    after = server.rss_kib()
    ok = wrk(server.port, 2, conns=4, threads=1, path="/4k.bin")["rps"] > 0
    for s in socks:
        s.close()
    return (after - before) / (conns * streams), ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--layer-rounds", type=int, default=8, help="rounds of the layer's own cost; 0 skips it")
    ap.add_argument("--paused", type=int, default=200)
    ap.add_argument("--port", type=int, default=3100)
    ap.add_argument("--paused-only", action="store_true", help="only the paused-client soak")
    ap.add_argument("--read-chunk", type=int, help="RangeLayer::read_chunk of tower-range-serve, in KiB")
    args = ap.parse_args()
    for tool in ("wrk", "h2load", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (apt-get install wrk nghttp2-client util-linux)")
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "tower-range-serve"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "tower-range", "--example", "serve_dir"], cwd=ROOT,
                   check=True)
    for bench in ("loopback", "hyper_floor"):
        subprocess.run(["cargo", "bench", "-q", "--no-run", "-p", "tower-range-serve", "--bench", bench], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    make_data()
    pinned = pin_data()
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write(RANDOM_LUA)
    lua.close()
    servers = start_servers(args.port, args.read_chunk)
    limit = start_limit(args.port, args.read_chunk)
    ours, alone, serve_dir, floor_static, floor_read = servers[:5]
    nginx, nginx_cached = (servers[5], servers[6]) if len(servers) > 5 else (None, None)
    nginxes = [s for s in (nginx, nginx_cached) if s]
    big = ["Range: bytes=0-536870911"]
    # Every server that answers ranges; the floors and the handler alone do not.
    ranged = [ours, serve_dir] + nginxes
    whole = [ours, alone, serve_dir] + nginxes + [floor_static, floor_read]
    # (label, name, wrk arguments, servers)
    scenarios = [
        ("S1", "512 MiB range, c=1", dict(conns=1, threads=1, headers=big), [ours, alone, serve_dir, nginx, limit]),
        ("S2", "64 KiB random ranges, c=1", dict(conns=1, threads=1, script=lua.name), ranged),
        ("S3", "64 KiB random ranges, c=64", dict(conns=64, threads=1, script=lua.name), ranged),
        ("S4", "first 1 MiB, c=1", dict(conns=1, threads=1, headers=["Range: bytes=0-1048575"]), [ours, serve_dir, nginx]),
        ("S5", "last 1 MiB, c=1", dict(conns=1, threads=1, headers=[f"Range: bytes={GIB - (1 << 20)}-"]),
         [ours, serve_dir, nginx]),
        ("S6", "whole 200s of 4 KiB, c=16", dict(conns=16, threads=1, path="/4k.bin"), whole),
        ("S7", "whole 200s of 1 MiB, c=16", dict(conns=16, threads=1, path="/1m.bin"), whole),
        ("S8", "512 MiB range over h2c, c=1", dict(conns=1, threads=1, headers=big, h2=True),
         [ours] + ([nginx] if nginx else [])),
    ]
    scenarios = [(label, name, kw, [s for s in who if s]) for label, name, kw, who in scenarios]
    paused = [ours, alone, serve_dir] + ([nginx] if nginx else [])
    if args.paused_only:
        try:
            for s in paused:
                per, ok = paused_rss(s, args.paused)
                print(f"{s.name}: {args.paused} paused clients, {per:.0f} KiB RSS each, "
                      f"other requests {'served' if ok else 'STARVED'}")
            for s in [ours] + ([nginx] if nginx else []):
                per, ok = paused_h2_rss(s, 10, args.paused // 10)
                print(f"{s.name}: {args.paused} paused HTTP/2 streams, {per:.0f} KiB RSS each, "
                      f"other requests {'served' if ok else 'STARVED'}")
        finally:
            for s in servers[:6] + [limit]:  # the nginx alias is the same process
                s.stop()
            os.unlink(lua.name)
        return
    runs = {}
    started = time.strftime("%Y-%m-%d %H:%M")
    load = os.getloadavg()
    try:
        for _ in range(args.rounds):
            for label, name, kw, who in scenarios:
                for server in who:  # alternate servers within each scenario
                    runs.setdefault((label, server.name), []).append(measure(server, args.seconds, **kw))
        layer = layer_cost(ours, alone, 2, args.layer_rounds) if args.layer_rounds else []
        rss = {s.name: paused_rss(s, args.paused) for s in paused}
        rss_h2 = {s.name: paused_h2_rss(s, 10, max(args.paused // 10, 1))
                  for s in [ours] + ([nginx] if nginx else [])}
        peak = {s.name: s.rss_kib("VmHWM") for s in paused}
    finally:
        for s in servers[:6] + [limit]:  # the nginx alias is the same process
            s.stop()
        os.unlink(lua.name)

    # Each cell: the median round by rate, with the median CPU per request.
    results = {}
    for key, rs in runs.items():
        r = dict(sorted(rs, key=lambda r: r["rps"])[len(rs) // 2])
        per_req = statistics.median(x["cpu"] / max(x["requests"], 1) for x in rs)
        per_byte = statistics.median(x["cpu"] / max(x["bytes"], 1) for x in rs)
        r["cpu"] = per_req * r["requests"] if key[0] not in ("S1", "S7", "S8") else per_byte * r["bytes"]
        results[key] = r

    def cell(label, r):
        if label in ("S1", "S7", "S8"):
            cpu_per_gb = r["cpu"] / (r["bytes"] / 1e9) if r["bytes"] else float("nan")
            return f"{r['bps'] / 1e9:.2f} GB/s, {cpu_per_gb:.2f} CPU s/GB"
        cpu_us = r["cpu"] / r["requests"] * 1e6 if r["requests"] else float("nan")
        return f"{r['rps']:.0f} req/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, {cpu_us:.1f} µs CPU/req"

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    dirty = " (uncommitted changes)" if subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                                       cwd=ROOT, capture_output=True, text=True).stdout else ""
    print(f"\n{started}, commit {commit}{dirty}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the "
          f"start, {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; the data "
          f"{'locked in memory' if pinned else 'not locked in memory'}")
    print(f"{os.cpu_count()} cores, loopback; each server on CPU {SERVER_CPU}, the load on CPU "
          f"{CLIENT_CPU}; medians of {args.rounds} rounds of {args.seconds} s each\n")
    names = [s.name for s in servers] + [limit.name]
    print("| scenario | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label, name, kw, who in scenarios:
        cells = [cell(label, results[(label, n)]) if (label, n) in results else "" for n in names]
        print(f"| {label} {name} | " + " | ".join(cells) + " |")
    print("| RSS per paused client | " + " | ".join(
        f"{rss[n][0]:.0f} KiB{'' if rss[n][1] else ' (others starved!)'}" if n in rss else "" for n in names) + " |")
    print("| RSS per paused HTTP/2 stream | " + " | ".join(
        f"{rss_h2[n][0]:.0f} KiB{'' if rss_h2[n][1] else ' (others starved!)'}" if n in rss_h2 else "" for n in names) + " |")
    print("| peak RSS | " + " | ".join(f"{peak[n] / 1024:.0f} MiB" if n in peak else "" for n in names) + " |")

    def ratio(label, a, b, key=None):
        ra, rb = results[(label, a.name)], results[(label, b.name)]
        key = key or ("bps" if label in ("S1", "S7", "S8") else "rps")
        cpu_a, cpu_b = ra["cpu"] / max(ra["requests"], 1), rb["cpu"] / max(rb["requests"], 1)
        return ra[key] / rb[key], cpu_a / cpu_b if cpu_b else float("nan")

    def cpu_us(label, server):
        r = results[(label, server.name)]
        return r["cpu"] / max(r["requests"], 1) * 1e6

    print("\nRatios, tower-range against each peer (rate: higher is better; CPU per request: lower):")
    for peer in servers[1:]:
        for label, name, kw, who in scenarios:
            if peer in who:
                rate, cpu = ratio(label, ours, peer)
                print(f"- {label} {name} vs {peer.name}: rate {rate:.2f}x, CPU per request {cpu:.2f}x")
    rate, _ = ratio("S1", ours, limit)
    print(f"- S1 against the pread+write limit: {rate:.2f}x")
    h2 = results[("S8", ours.name)]["bps"] / results[("S1", ours.name)]["bps"]
    print(f"- S8 h2c against S1 HTTP/1.1: {h2:.2f}x")
    head, tail = results[("S4", ours.name)], results[("S5", ours.name)]
    print(f"- last 1 MiB / first 1 MiB time: {head['rps'] / tail['rps']:.2f}")

    print("\nAbove hyper's floor, CPU per request (the static floor: hyper alone; fs::read: hyper and "
          "a plain file read):")
    for label in ("S6", "S7"):
        floor_s, floor_r = cpu_us(label, floor_static), cpu_us(label, floor_read)
        for s in [ours, alone] + nginxes:
            print(f"- {label} {s.name}: {cpu_us(label, s):.1f} µs, {cpu_us(label, s) - floor_s:+.1f} µs over the "
                  f"static floor ({floor_s:.1f}), {cpu_us(label, s) - floor_r:+.1f} µs over fs::read ({floor_r:.1f})")

    if layer:
        print(f"\nThe layer's own cost: the server with and without it, alternating, medians of "
              f"{args.layer_rounds} rounds of 2 s:")
        for name, with_, without, diff, rps_with, rps_without, diffs in layer:
            print(f"- {name}: {with_:.2f} µs CPU/request with the layer ({rps_with:.0f} req/s), {without:.2f} "
                  f"without ({rps_without:.0f} req/s): {diff:+.2f} µs (median of the paired differences; "
                  f"range {min(diffs):+.2f} to {max(diffs):+.2f})")

    if nginx:
        print("\nTargets:")

        def target(what, ok):
            print(f"- {'met' if ok else 'NOT MET'}: {what}")

        for label in ("S6", "S3"):
            for peer in nginxes:
                rate, cpu = ratio(label, ours, peer)
                target(f"{label} vs {peer.name}: rate {rate:.2f}x >= 1.0, CPU/request {cpu:.2f}x <= 1.0",
                       rate >= 1.0 and cpu <= 1.0)
        for peer in nginxes:
            _, cpu = ratio("S7", ours, peer)
            target(f"S7 vs {peer.name}: CPU per byte {cpu:.2f}x <= 1.05", cpu <= 1.05)
        rate, _ = ratio("S1", ours, limit)
        target(f"S1: {rate:.2f}x the pread+write limit >= 0.95", rate >= 0.95)
        target(f"paused clients: {rss[ours.name][0]:.0f} KiB each <= 64", rss[ours.name][0] <= 64)
        target(f"S8 h2c: {h2:.2f}x S1 >= 0.8", h2 >= 0.8)


if __name__ == "__main__":
    main()
