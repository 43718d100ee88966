#!/usr/bin/env python3
"""Load benchmark: examples/serve against its own handler without the layer,
tower-http's ServeDir, and nginx (when installed), in one run, alternating.

    python3 benches/load.py [--seconds 8] [--rounds 2] [--paused 200] [--read-chunk KIB]

Needs wrk (Debian: apt-get install wrk nginx-light). Builds the release examples,
makes a 1 GiB file under target/load/, keeps it in page cache, starts every server on
127.0.0.1, and prints a Markdown table. Every request goes to 127.0.0.1 only.
"""

import argparse
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "target", "load")
GIB = 1 << 30
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def make_data():
    os.makedirs(DATA, exist_ok=True)
    files = {"big.bin": GIB, "1m.bin": 1 << 20, "4k.bin": 4096}
    for name, size in files.items():
        path = os.path.join(DATA, name)
        if not os.path.exists(path) or os.path.getsize(path) != size:
            block = bytes(random.Random(1).getrandbits(8) for _ in range(1 << 16))
            with open(path, "wb") as f:
                for _ in range(size // len(block)):
                    f.write(block)
                f.write(block[: size % len(block)])
        with open(path, "rb") as f:  # into page cache
            while f.read(1 << 24):
                pass


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Server:
    def __init__(self, name, cmd, port, pid_file=None):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)
        self.pid_file = pid_file

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


def start_servers(base, read_chunk=None):
    release = os.path.join(ROOT, "target", "release", "examples")
    chunk = ["--read-chunk", str(read_chunk)] if read_chunk else []
    servers = [
        Server("tower-range (serve)", [f"{release}/serve", "--root", DATA, "--addr", f"127.0.0.1:{base}"] + chunk, base),
        Server("handler alone (--no-layer)", [f"{release}/serve", "--root", DATA, "--addr", f"127.0.0.1:{base + 1}", "--no-layer"], base + 1),
        Server("tower-http ServeDir", [f"{release}/serve_dir", "--root", DATA, "--addr", f"127.0.0.1:{base + 2}"], base + 2),
    ]
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx:
        conf_dir = tempfile.mkdtemp(prefix="tower-range-nginx-")
        pid = os.path.join(conf_dir, "nginx.pid")
        with open(os.path.join(conf_dir, "nginx.conf"), "w") as f:
            f.write(f"""
worker_processes 2; daemon off; pid {pid}; error_log {conf_dir}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off; sendfile off; tcp_nodelay on; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{base + 3}; root {DATA}; }}
}}
""")
        s = Server("nginx (sendfile off)", [nginx, "-c", os.path.join(conf_dir, "nginx.conf")], base + 3, pid)
        time.sleep(0.3)
        servers.append(s)
    return servers


def wrk(port, seconds, conns, threads, script=None, headers=(), path="/big.bin"):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency"]
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


def measure(server, seconds, **kw):
    before = server.cpu_seconds()
    r = wrk(server.port, seconds, **kw)
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--paused", type=int, default=200)
    ap.add_argument("--port", type=int, default=3100)
    ap.add_argument("--paused-only", action="store_true", help="only the paused-client soak")
    ap.add_argument("--read-chunk", type=int, help="RangeLayer::read_chunk of examples/serve, in KiB")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    subprocess.run(["cargo", "build", "-q", "--release", "--examples"], cwd=ROOT, check=True)
    make_data()
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write(RANDOM_LUA)
    lua.close()
    servers = start_servers(args.port, args.read_chunk)
    scenarios = [
        ("512 MiB range, c=1", dict(conns=1, threads=1, headers=["Range: bytes=0-536870911"])),
        ("64 KiB random ranges, c=1", dict(conns=1, threads=1, script=lua.name)),
        ("64 KiB random ranges, c=64", dict(conns=64, threads=2, script=lua.name)),
        ("first 1 MiB, c=1", dict(conns=1, threads=1, headers=["Range: bytes=0-1048575"])),
        ("last 1 MiB, c=1", dict(conns=1, threads=1, headers=[f"Range: bytes={GIB - (1 << 20)}-"])),
        ("full 200 of 4 KiB, c=16", dict(conns=16, threads=2, path="/4k.bin")),
        ("full 200 of 1 MiB, c=16", dict(conns=16, threads=2, path="/1m.bin")),
    ]
    if args.paused_only:
        try:
            for s in servers:
                per, ok = paused_rss(s, args.paused)
                print(f"{s.name}: {args.paused} paused clients, {per:.0f} KiB RSS each, "
                      f"other requests {'served' if ok else 'STARVED'}")
        finally:
            for s in servers:
                s.stop()
            os.unlink(lua.name)
        return
    results = {}
    try:
        for _ in range(args.rounds):
            for name, kw in scenarios:
                for server in servers:  # alternate servers within each scenario
                    r = measure(server, args.seconds, **kw)
                    best = results.get((name, server.name))
                    if best is None or r["rps"] > best["rps"]:
                        results[(name, server.name)] = r
        rss = {s.name: paused_rss(s, args.paused) for s in servers}
        peak = {s.name: s.rss_kib("VmHWM") for s in servers}
    finally:
        for s in servers:
            s.stop()
        os.unlink(lua.name)

    cores = os.cpu_count()
    print(f"\n{cores} cores, loopback, best of {args.rounds} rounds of {args.seconds} s each\n")
    names = [s.name for s in servers]
    print("| scenario | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for name, kw in scenarios:
        cells = []
        for n in names:
            r = results[(name, n)]
            if "--no-layer" in n and any("Range" in h for h in kw.get("headers", [])) or ("--no-layer" in n and "script" in kw):
                cells.append("n/a (ignores Range)")
                continue
            if "512 MiB" in name or "1 MiB, c=16" in name:
                cpu_per_gb = r["cpu"] / (r["bytes"] / 1e9) if r["bytes"] else float("nan")
                cells.append(f"{r['bps'] / 1e9:.2f} GB/s, {cpu_per_gb:.2f} CPU s/GB")
            else:
                cpu_us = r["cpu"] / r["requests"] * 1e6 if r["requests"] else float("nan")
                cells.append(f"{r['rps']:.0f} req/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, {cpu_us:.0f} µs CPU/req")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| RSS per paused client | " + " | ".join(f"{rss[n][0]:.0f} KiB{'' if rss[n][1] else ' (others starved!)'}" for n in names) + " |")
    print("| peak RSS | " + " | ".join(f"{peak[n] / 1024:.0f} MiB" for n in names) + " |")

    ours = names[0]
    print("\nRatios, tower-range against each peer (higher is better for rates, lower for CPU):")
    for peer in names[1:]:
        for name, kw in scenarios:
            ranged = "script" in kw or any("Range" in h for h in kw.get("headers", []))
            if "--no-layer" in peer and ranged:
                continue
            a, b = results[(name, ours)], results[(name, peer)]
            key = "bps" if ("512 MiB" in name or "1 MiB, c=16" in name) else "rps"
            cpu_a = a["cpu"] / max(a["requests"], 1)
            cpu_b = b["cpu"] / max(b["requests"], 1)
            print(f"- {name} vs {peer}: rate {a[key] / b[key]:.2f}x, CPU per request {cpu_a / cpu_b if cpu_b else float('nan'):.2f}x")
    head, tail = results[("first 1 MiB, c=1", ours)], results[("last 1 MiB, c=1", ours)]
    print(f"- last 1 MiB / first 1 MiB time: {head['rps'] / tail['rps']:.2f}")


if __name__ == "__main__":
    main()
