#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: the same requests to each server,
deterministic and blind to whatever else the machine is doing.

    python3 serve/benches/callgrind.py [--requests 2000] [--conns 16] [--scenario 4k]
        [--server serve --server no-layer --server floor-static --server floor-read]
        [--syscalls] [--keep DIR]

Needs valgrind (and strace for --syscalls), one that knows `openat2`: 3.24 does,
Debian 12's 3.19 does not (the server would take its fallback path; the script stops
when valgrind reports the unknown system call). Builds the release server and
benches/hyper_floor.rs, makes load.py's files under target/load/, starts each server
under `valgrind --tool=callgrind`, warms it with --warmup requests, zeroes the counters,
sends --requests requests over --conns kept-alive HTTP/1.1 connections (each waits for
its response before the next request, like wrk), dumps the counters and prints the
instructions per request: user space only, every thread (the blocking pool's too).
The kernel's share (the system calls) is not in these counts; --syscalls runs each
server natively under `strace -c -f` for the same requests and prints the system
calls per request. --keep DIR keeps the callgrind files, for callgrind_annotate.

Scenarios: `4k`, whole 200s of target/load/4k.bin (load.py's S6); `range`, 64 KiB
ranges of big.bin at offsets from a fixed seed (S3); `1m`, whole 200s of 1m.bin (S7).
"""

import argparse
import os
import random
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from load import DATA, GIB, ROOT, bench_binary, make_data
from ports import wait_port


# A release build with line tables, in a directory of its own so that load.py's build
# stays as it is: callgrind then knows the source file of inlined code.
TARGET = os.path.join(ROOT, "target", "callgrind")
BUILD_ENV = dict(os.environ, CARGO_TARGET_DIR=TARGET, CARGO_PROFILE_RELEASE_DEBUG="line-tables-only")


def servers(port, binary=None, extra=()):
    binary = binary or os.path.join(TARGET, "release", "tower-range-serve")
    serve = [binary, "--root", DATA, "--addr", f"127.0.0.1:{port}"] + list(extra)
    floor = bench_binary("hyper_floor", TARGET)
    return {
        "serve": serve,
        "no-layer": serve + ["--no-layer"],
        "floor-static": [floor, "--addr", f"127.0.0.1:{port}", "--static", DATA],
        "floor-read": [floor, "--addr", f"127.0.0.1:{port}", "--read", DATA],
    }


def requests(scenario, count, seed):
    rng = random.Random(seed)
    for _ in range(count):
        if scenario == "4k":
            yield b"GET /4k.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        elif scenario == "1m":
            yield b"GET /1m.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        else:
            off = rng.randrange(GIB // 65536) * 65536
            yield (f"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes={off}-{off + 65535}\r\n\r\n"
                   .encode())


class Conn:
    def __init__(self, port, status):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.status = status
        self.head = b""
        self.left = None  # body bytes still to come, once the head is in

    def feed(self, data):
        """Takes received bytes; returns whether a whole response has come."""
        if self.left is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = self.head[:end].decode("latin-1")
            status = int(head.split(" ", 2)[1])
            if status != self.status:
                raise RuntimeError(f"status {status}, not {self.status}")
            length = int(re.search(r"(?im)^content-length:\s*(\d+)", head).group(1))
            self.left = length - (len(self.head) - end - 4)
        else:
            self.left -= len(data)
        if self.left > 0:
            return False
        if self.left < 0:
            raise RuntimeError("more bytes than the response")
        self.head, self.left = b"", None
        return True


def drive(port, conns, reqs):
    """Sends every request of `reqs`, each connection one at a time; returns the count."""
    sel = selectors.DefaultSelector()
    reqs = iter(reqs)
    done = 0
    for c in conns:
        req = next(reqs, None)
        if req is None:
            break
        c.sock.sendall(req)
        sel.register(c.sock, selectors.EVENT_READ, c)
    while sel.get_map():
        for key, _ in sel.select():
            c = key.data
            data = c.sock.recv(1 << 20)
            if not data:
                raise RuntimeError("connection closed")
            if c.feed(data):
                done += 1
                req = next(reqs, None)
                if req is None:
                    sel.unregister(c.sock)
                else:
                    c.sock.sendall(req)
    return done


def total_ir(path):
    for line in open(path):
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


# callgrind counts each byte a `rep movsb` or `rep stosb` moves as an instruction,
# which makes a 4 KiB memset look like 4,000 instructions where the CPU spends about a
# hundred cycles: glibc's vector loops instead, whose count is proportionate.
NO_REP_STRINGS = "glibc.cpu.x86_rep_movsb_threshold=1099511627776:glibc.cpu.x86_rep_stosb_threshold=1099511627776"


def control(pid, command):
    out = subprocess.run(["callgrind_control", command, str(pid)], capture_output=True, text=True)
    if "OK." not in out.stdout:
        raise RuntimeError(f"callgrind_control {command}: {out.stdout}{out.stderr}")


def callgrind(name, cmd, port, args, out_dir):
    out = os.path.join(out_dir, f"callgrind.{name}.{args.scenario}")
    log = open(f"{out}.log", "w+")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--dump-instr=yes", f"--callgrind-out-file={out}.%p"] + cmd,
                            stdout=subprocess.DEVNULL, stderr=log,
                            env=dict(os.environ, RUST_LOG="warn", GLIBC_TUNABLES=NO_REP_STRINGS))
    try:
        wait_port(port, proc, seconds=120)
        conns = [Conn(port, 206 if args.scenario == "range" else 200) for _ in range(args.conns)]
        drive(port, conns, requests(args.scenario, args.warmup, 1))
        control(proc.pid, "--zero")
        n = drive(port, conns, requests(args.scenario, args.requests, 2))
        control(proc.pid, "--dump")
        for c in conns:
            c.sock.close()
    finally:
        proc.terminate()
        proc.wait()
    log.seek(0)
    unknown = [line for line in log if "unhandled" in line and "syscall" in line]
    if unknown:
        raise RuntimeError(f"valgrind does not know a system call the server makes: {unknown[0]}")
    dumps = sorted((f for f in os.listdir(out_dir) if f.startswith(os.path.basename(out) + f".{proc.pid}")),
                   key=lambda f: os.path.getmtime(os.path.join(out_dir, f)))
    # The first dump is the one asked for; the one at exit covers the time after it.
    return total_ir(os.path.join(out_dir, dumps[0])) / n, os.path.join(out_dir, dumps[0])


def syscalls(cmd, port, args):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, RUST_LOG="warn"))
    try:
        wait_port(port, proc)
        conns = [Conn(port, 206 if args.scenario == "range" else 200) for _ in range(args.conns)]
        drive(port, conns, requests(args.scenario, args.warmup, 1))
        trace = tempfile.NamedTemporaryFile(suffix=".strace", delete=False).name
        strace = subprocess.Popen(["strace", "-c", "-f", "-o", trace, "-p", str(proc.pid)],
                                  stderr=subprocess.DEVNULL)
        time.sleep(1)
        n = drive(port, conns, requests(args.scenario, args.requests, 2))
        time.sleep(0.2)
        strace.terminate()
        strace.wait()
        for c in conns:
            c.sock.close()
    finally:
        proc.terminate()
        proc.wait()
    counts = {}
    for line in open(trace):
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
            counts[fields[-1]] = int(fields[3])
    os.unlink(trace)
    return {k: v / n for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if v / n >= 0.01}


# Who owns an instruction: the innermost frame of its inline chain (from the line
# tables of the build below) that is compiled from one of these files. What no such
# frame claims (std, core, alloc, libc, and the helper crates: http, bytes, httpdate,
# mime_guess, percent-encoding, tracing) is shared, and its cost goes to its callers
# in proportion to what each call cost, up to the nearest owner.
OWNERS = [
    ("/serve/src/files.rs", "server: handler (files.rs)"),
    ("/serve/src/open_files.rs", "server: handler (files.rs)"),
    ("/serve/src/log.rs", "server: log.rs"),
    ("/serve/src/connection.rs", "server: connection.rs"),
    ("/serve/src/coalesce.rs", "server: coalesce.rs"),
    ("/serve/src/main.rs", "server: main.rs"),
    ("/serve/benches/hyper_floor.rs", "server: main.rs"),
    ("/src/seek.rs", "library: RangeSource reads"),
    ("/src/file.rs", "library: RangeSource reads"),
    ("/src/source.rs", "library: RangeSource reads"),
    ("/hyper-util-", "hyper-util"),
    ("/hyper-1.", "hyper"),
    ("/httparse-", "hyper"),
    ("/h2-", "h2"),
    ("/tokio-1.", "tokio"),
    ("/mio-", "tokio"),
]


def file_owner(path):
    for part, who in OWNERS:
        if part in path:
            return who
    # The library's other files are the layer's.
    if path.startswith(ROOT + "/src/"):
        return "layer (tower-range)"
    return None


def parse(path):
    """The cost of each instruction address, and of each call site:
    ({(object, fn, address): cost}, {(object, caller, callee, address): cost})."""
    names = {}
    own, calls = {}, {}
    ob = fn = callee = None
    addr = 0
    in_call = False

    def resolve(kind, ref):
        m = re.match(r"\((\d+)\)(?: (.*))?$", ref.strip())
        if not m:
            return ref.strip()
        table = names.setdefault(kind, {})
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table[m.group(1)]

    for line in open(path):
        if line.startswith("0x") or line[:1] in ("+", "-", "*"):
            fields = line.split()
            if len(fields) < 3:
                continue
            pos = fields[0]
            if pos.startswith("0x"):
                addr = int(pos, 16)
            elif pos[0] in "+-":
                addr += int(pos)
            cost = int(fields[2])
            if in_call:
                calls[(ob, fn, callee, addr)] = calls.get((ob, fn, callee, addr), 0) + cost
                in_call = False
            else:
                own[(ob, fn, addr)] = own.get((ob, fn, addr), 0) + cost
        elif line.startswith("ob="):
            ob = resolve("ob", line[3:])
        elif line.startswith("cob="):
            resolve("ob", line[4:])
        elif line.startswith("fn="):
            fn = resolve("fn", line[3:])
        elif line.startswith("cfn="):
            callee = resolve("fn", line[4:])
        elif line.startswith("calls="):
            in_call = True
    return own, calls


def inline_owners(binary, addrs):
    """The owner of each address of `binary`, by its inline chain."""
    addrs = sorted(addrs)
    out = subprocess.run(["llvm-addr2line", "-a", "-i", "-e", binary],
                         input="".join(f"{a:#x}\n" for a in addrs), capture_output=True, text=True).stdout
    owners, current = {}, None
    for line in out.splitlines():
        if line.startswith("0x"):
            current = int(line, 16)
            owners[current] = None
        elif current is not None and owners[current] is None:
            owners[current] = file_owner(line)
    return owners


def shares(path, binary):
    """Instructions by owner."""
    own, calls = parse(path)
    addrs = {a for (ob, _, a) in own if ob == binary} | {a for (ob, _, _, a) in calls if ob == binary}
    owners = inline_owners(binary, addrs)

    def site_owner(ob, addr):
        return owners.get(addr) if ob == binary else None

    callers = {}
    for (ob, caller, callee, addr), cost in calls.items():
        if caller != callee:
            callers.setdefault(callee, []).append((ob, caller, addr, cost))
    # How much of each function's own cost is shared (no owner), to split by callers.
    out, shared = {}, {}
    for (ob, fn, addr), cost in own.items():
        who = site_owner(ob, addr)
        if who:
            out[who] = out.get(who, 0) + cost
        else:
            shared[fn] = shared.get(fn, 0) + cost
    memo = {}
    unknown = "other (unattributed)"

    def split(fn, depth=0):
        """How the shared cost of `fn` divides among owners, as fractions."""
        if fn in memo:
            return memo[fn]
        memo[fn] = {unknown: 1.0}  # a cycle ends here
        total = sum(c for *_, c in callers.get(fn, []))
        result = {}
        if total and depth < 60:
            for ob, caller, addr, cost in callers[fn]:
                who = site_owner(ob, addr)
                for w, part in ({who: 1.0} if who else split(caller, depth + 1)).items():
                    result[w] = result.get(w, 0) + part * cost / total
        memo[fn] = result or {unknown: 1.0}
        return memo[fn]

    for fn, cost in shared.items():
        for who, part in split(fn).items():
            out[who] = out.get(who, 0) + cost * part
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--scenario", choices=("4k", "range", "1m"), default="4k")
    ap.add_argument("--server", action="append", help="serve, no-layer, floor-static, floor-read")
    ap.add_argument("--port", type=int, default=3200)
    ap.add_argument("--syscalls", action="store_true")
    ap.add_argument("--keep", help="a directory for the callgrind files")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--shares", action="store_true", help="instructions per request by owner")
    ap.add_argument("--serve-binary", help="another build of tower-range-serve, to compare")
    ap.add_argument("--serve-args", default="", help="more arguments for tower-range-serve")
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control") + (("strace",) if args.syscalls else ()):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (apt-get install valgrind strace)")
    if not args.no_build:
        subprocess.run(["cargo", "build", "-q", "--release", "-p", "tower-range-serve", "--bin", "tower-range-serve",
                        "--bench", "hyper_floor"], cwd=ROOT, env=BUILD_ENV, check=True)
    make_data()
    names = args.server or ["serve", "no-layer", "floor-static", "floor-read"]
    if args.scenario == "range":
        # The handler alone and the floor answer every range with the whole file.
        names = [n for n in names if n in ("serve",)]
    out_dir = args.keep or tempfile.mkdtemp(prefix="tower-range-callgrind-")
    os.makedirs(out_dir, exist_ok=True)
    print(f"{args.scenario}: {args.requests} requests over {args.conns} connections, after {args.warmup}")
    for name in names:
        cmd = servers(args.port, args.serve_binary, args.serve_args.split())[name]
        ir, path = callgrind(name, cmd, args.port, args, out_dir)
        line = f"{name:14} {ir:10.0f} instructions/request"
        if args.syscalls:
            calls = syscalls(cmd, args.port, args)
            line += "   syscalls/request: " + ", ".join(f"{k} {v:.2f}" for k, v in calls.items())
        print(line + (f"   ({path})" if args.keep else ""), flush=True)
        if args.shares:
            parts = shares(path, cmd[0])
            total = sum(parts.values())
            for who, cost in sorted(parts.items(), key=lambda kv: -kv[1]):
                print(f"    {who:34} {cost * ir / total:8.0f}  {100 * cost / total:5.1f} %")
    if not args.keep:
        shutil.rmtree(out_dir)


if __name__ == "__main__":
    main()
