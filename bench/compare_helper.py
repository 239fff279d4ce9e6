#!/usr/bin/python3
"""Helpers for bench/compare.sh: process memory/CPU from /proc, an idle-session
client, a direct clamd+spamd client, a throwaway UDP syslog sink, and the
report tables. Standard library only; run with Debian's /usr/bin/python3.

Everything here connects to 127.0.0.1 only and is bounded in count and time.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
from datetime import datetime, timezone
from email.utils import format_datetime
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------
def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_map():
    """ppid -> [pid] for every process (one pass over /proc)."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                st = f.read()
        except OSError:
            continue
        # the command may contain spaces and parentheses: split after the last ')'
        rest = st[st.rindex(")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(name))
    return kids


def tree(pid, kids=None):
    kids = children_map() if kids is None else kids
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    return st[st.rindex(")") + 2:].split()


def tree_cpu_ticks(pid):
    """utime+stime of pid and its live descendants, plus the CPU of children
    pid has already reaped (cutime+cstime): a prefork server's recycled
    children are counted too."""
    total = 0
    for i, p in enumerate(tree(pid)):
        try:
            f = stat_fields(p)
        except OSError:
            continue
        total += int(f[11]) + int(f[12])  # utime stime (fields 14, 15)
        if i == 0:
            total += int(f[13]) + int(f[14])  # cutime cstime
    return total


def cmd_cpu(a):
    print(tree_cpu_ticks(a.pid))


def cmd_mem(a):
    """VmRSS and VmHWM (KiB) of pid, or summed over its process tree."""
    pids = tree(a.pid) if a.tree else [a.pid]
    print(sum(status_kib(p, "VmRSS") for p in pids), sum(status_kib(p, "VmHWM") for p in pids))


def cmd_clear_hwm(a):
    # "5" resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0)
    for p in tree(a.pid) if a.tree else [a.pid]:
        try:
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass


def cmd_sample(a):
    """Sample the summed VmRSS of each named process tree every --interval
    seconds until SIGTERM; then write 'name peak_kib hwm_kib nprocs' lines,
    where hwm_kib is the main process's own VmHWM (the kernel's exact peak)."""
    targets = []
    for spec in a.procs:
        name, pid = spec.split("=", 1)
        targets.append((name, int(pid)))
    peak = {n: 0 for n, _ in targets}
    hwm = {n: 0 for n, _ in targets}
    nprocs = {n: 0 for n, _ in targets}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    while True:
        kids = children_map()
        for name, pid in targets:
            pids = tree(pid, kids)
            total = sum(status_kib(p, "VmRSS") for p in pids)
            peak[name] = max(peak[name], total)
            nprocs[name] = max(nprocs[name], len(pids))
            hwm[name] = max(hwm[name], status_kib(pid, "VmHWM"))
        if stop:
            break
        time.sleep(a.interval)
    with open(a.out, "w") as f:
        for name, _ in targets:
            f.write(f"{name} {max(peak[name], hwm[name])} {hwm[name]} {nprocs[name]}\n")


# --------------------------------------------------------------------------
# idle sessions
# --------------------------------------------------------------------------
async def idle_main(a):
    conns, failed, errors = [], 0, {}
    sem = asyncio.Semaphore(a.batch)

    async def one():
        nonlocal failed
        async with sem:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", a.port), a.timeout)
                line = await asyncio.wait_for(r.readline(), a.timeout)
                # a multi-line greeting: read to the last line
                while line[3:4] == b"-":
                    line = await asyncio.wait_for(r.readline(), a.timeout)
                if not line.startswith(b"220"):
                    raise RuntimeError("greeting " + line[:40].decode("ascii", "replace").strip())
                conns.append((r, w))
            except Exception as e:  # noqa: BLE001 - counted and reported
                failed += 1
                key = type(e).__name__ + ": " + str(e)[:60]
                errors[key] = errors.get(key, 0) + 1

    def mem():
        return status_kib(a.pid, "VmRSS"), status_kib(a.pid, "VmHWM")

    base_rss, _ = mem()
    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(a.n)))
    t_open = time.monotonic() - t0
    await asyncio.sleep(a.hold)
    # sessions still open after the hold (a peer close shows as EOF)
    alive = 0
    for r, _ in conns:
        if not r.at_eof() and r.exception() is None:
            alive += 1
    upstream = None
    if a.count_port:
        out = subprocess.run(
            ["ss", "-Htn", "state", "established", f"( sport = :{a.count_port} )"],
            capture_output=True, text=True, check=False,
        ).stdout
        upstream = sum(1 for ln in out.splitlines() if ln.strip())
    rss, hwm = mem()
    t1 = time.monotonic()
    for _, w in conns:
        w.transport.abort() if a.abort else w.close()
    await asyncio.sleep(0.2)
    # Memory after the burst: does the proxy give it back once every
    # session is gone? Sampled each second for --settle seconds.
    after = []
    for _ in range(int(a.settle)):
        await asyncio.sleep(1)
        after.append(mem()[0])
    print(json.dumps({
        "requested": a.n, "greeted": len(conns), "failed": failed, "errors": errors,
        "open_secs": round(t_open, 2), "held_secs": round(t1 - t0 - t_open, 2), "alive": alive,
        "upstream_established": upstream, "base_rss_kib": base_rss, "rss_kib": rss, "hwm_kib": hwm,
        "after_rss_kib": after[-1] if after else rss, "settle_secs": int(a.settle),
    }))


def cmd_idle(a):
    asyncio.run(idle_main(a))


# --------------------------------------------------------------------------
# direct scanner client: what clamd + spamd sustain without doorman
# --------------------------------------------------------------------------
async def clamd_instream(host, port, msg, timeout):
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        w.write(b"zINSTREAM\0")
        for i in range(0, len(msg), 65536):
            piece = msg[i:i + 65536]
            w.write(struct.pack(">I", len(piece)) + piece)
        w.write(struct.pack(">I", 0))
        await w.drain()
        reply = await asyncio.wait_for(r.readuntil(b"\0"), timeout)
    finally:
        w.close()
    if reply != b"stream: OK\0":
        raise RuntimeError("clamd: " + reply[:60].decode("ascii", "replace"))


async def spamd_symbols(host, port, msg, timeout):
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        w.write(b"SYMBOLS SPAMC/1.5\r\nContent-length: %d\r\n\r\n" % len(msg) + msg)
        await w.drain()
        w.write_eof()
        reply = await asyncio.wait_for(r.read(4096), timeout)
        while True:  # read to EOF (spamd closes after the reply)
            more = await asyncio.wait_for(r.read(4096), timeout)
            if not more:
                break
            reply += more
    finally:
        w.close()
    if not reply.startswith(b"SPAMD/1.1 0 EX_OK") or b"\r\nSpam: " not in reply:
        raise RuntimeError("spamd: " + reply[:60].decode("ascii", "replace"))


async def scan_main(a):
    with open(a.msg, "rb") as f:
        msg = f.read()
    ch, cp = a.clamd.rsplit(":", 1)
    sh, sp = a.spamd.rsplit(":", 1)
    todo = list(range(a.n))
    ok, errors, lat = 0, {}, []

    async def worker():
        nonlocal ok
        while todo:
            todo.pop()
            t = time.monotonic()
            res = await asyncio.gather(
                clamd_instream(ch, int(cp), msg, a.timeout),
                spamd_symbols(sh, int(sp), msg, a.timeout),
                return_exceptions=True,
            )
            bad = [e for e in res if isinstance(e, BaseException)]
            if bad:
                key = str(bad[0])[:70]
                errors[key] = errors.get(key, 0) + 1
            else:
                ok += 1
                lat.append(time.monotonic() - t)

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(a.concurrency)))
    secs = time.monotonic() - t0
    print(json.dumps({"n": a.n, "ok": ok, "secs": round(secs, 4), "errors": errors,
                      "p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None}))


def cmd_scan(a):
    asyncio.run(scan_main(a))


# --------------------------------------------------------------------------
# per-step latency of one sequential SMTP session (TCP_NODELAY client)
# --------------------------------------------------------------------------
def rfc5322_now():
    """The current time as an RFC 5322 date with a numeric zone (+0000)."""
    return format_datetime(datetime.now(timezone.utc)).encode()


def smtp_reply(s):
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
        if buf.endswith(b"\r\n"):
            last = buf[:-2].rsplit(b"\r\n", 1)[-1]
            if len(last) >= 4 and last[3:4] == b" " or len(last) == 3:
                return buf


def cmd_steps(a):
    """For each target in turn (interleaved, --rounds), --n sessions of one
    message each; prints the median microseconds per step and target as JSON."""
    body = (b"From: <sender@client.bench.test>\r\nTo: <rcpt@sink.test>\r\nSubject: steps\r\n"
            b"Date: " + rfc5322_now() + b"\r\nMessage-Id: <steps@client.bench.test>\r\n\r\n")
    line = b"X" * 78 + b"\r\n"
    body += line * max(1, (a.size - len(body)) // len(line))
    steps = (("EHLO", b"EHLO client.bench.test\r\n", b"250"), ("MAIL", b"MAIL FROM:<sender@client.bench.test>\r\n", b"250"),
             ("RCPT", b"RCPT TO:<rcpt@sink.test>\r\n", b"250"), ("DATA", b"DATA\r\n", b"354"),
             ("message+dot", body + b".\r\n", b"250"), ("QUIT", b"QUIT\r\n", b"221"))
    targets = [t.split("=", 1) for t in a.targets]
    res = {name: {} for name, _ in targets}
    for _ in range(a.rounds):
        for name, port in targets:
            for _ in range(a.n):
                t0 = time.perf_counter()
                s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if not smtp_reply(s).startswith(b"220"):
                    raise RuntimeError(f"{name}: no 220")
                rec = res[name]
                rec.setdefault("connect+greeting", []).append(time.perf_counter() - t0)
                for label, cmd, want in steps:
                    t = time.perf_counter()
                    s.sendall(cmd)
                    r = smtp_reply(s)
                    if not r.startswith(want):
                        raise RuntimeError(f"{name}: {label}: {r[:60]!r}")
                    rec.setdefault(label, []).append(time.perf_counter() - t)
                s.close()
                rec.setdefault("total", []).append(time.perf_counter() - t0)
    out = {name: {k: round(statistics.median(v) * 1e6) for k, v in r.items()} for name, r in res.items()}
    print(json.dumps(out))


# --------------------------------------------------------------------------
# a UDP "syslog" that discards (spampd logs only to syslog; there is no
# syslogd here, and without one it retries a TCP and a UDP connect per line)
# --------------------------------------------------------------------------
def cmd_udpsink(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", a.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    deadline = time.monotonic() + a.max_secs
    s.settimeout(1)
    out = open(a.log, "ab") if a.log else None
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        if out:
            out.write(data + b"\n")
            out.flush()


# --------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------
def median(xs):
    return statistics.median(xs) if xs else None


def fmt_rate(xs):
    if not xs:
        return "-"
    m = median(xs)
    return f"{m:,.0f} ({min(xs):,.0f}–{max(xs):,.0f})" if len(xs) > 1 else f"{m:,.0f}"


def read_runs(path):
    runs = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 8 or p[0].startswith("#"):
                continue
            kind, target, rnd, count, secs, delivered, rc, cpu = p[:8]
            runs.append({"kind": kind, "target": target, "round": int(rnd), "count": int(count),
                         "secs": float(secs), "delivered": int(delivered), "rc": int(rc),
                         "cpu_ticks": int(cpu) if cpu not in ("", "-") else None,
                         "overflows": int(p[8]) if len(p) > 8 and p[8].lstrip("-").isdigit() else 0})
    return runs


def cmd_report(a):
    runs = read_runs(a.runs)
    rss = {}
    if a.rss and os.path.exists(a.rss):
        with open(a.rss) as f:
            for line in f:
                p = line.split()
                if len(p) >= 4:
                    rss[p[0]] = (int(p[1]), int(p[2]), int(p[3]))
    notes = {}
    if a.notes and os.path.exists(a.notes):
        with open(a.notes) as f:
            for line in f:
                t, _, n = line.rstrip("\n").partition("\t")
                notes.setdefault(t, []).append(n)
    na = {}
    if a.na and os.path.exists(a.na):
        with open(a.na) as f:
            for line in f:
                t, _, n = line.rstrip("\n").partition("\t")
                na[t] = n
    targets = a.targets.split()
    rows, med = [], {}
    for t in targets:
        tp = [r for r in runs if r["target"] == t and r["kind"] == "tput"]
        la = [r for r in runs if r["target"] == t and r["kind"] == "lat"]
        good = [r for r in tp if r["rc"] == 0 and r["delivered"] == r["count"]]
        rates = [r["count"] / r["secs"] for r in good if r["secs"] > 0]
        med[t] = median(rates)
        lat_ms = [r["secs"] * 1000 / r["count"] for r in la if r["rc"] == 0 and r["delivered"] == r["count"]]
        cpu = [r["cpu_ticks"] * 1e6 / CLK_TCK / r["count"] for r in good if r["cpu_ticks"] is not None]
        sent = sum(r["count"] for r in tp + la)
        delivered = sum(r["delivered"] for r in tp + la)
        failed = [r for r in tp + la if r["rc"] != 0 or r["delivered"] != r["count"]]
        ovf = sum(r["overflows"] for r in tp)
        rows.append((t, tp, rates, lat_ms, cpu, sent, delivered, failed, ovf))
    base = med.get("haproxy")
    hdr = ("target", "msgs/s median (min–max)", "×haproxy", "seq ms/msg", "CPU µs/msg", "peak RSS MiB",
           "listen ovf", "delivered/sent")
    table = []
    for t, tp, rates, lat_ms, cpu, sent, delivered, failed, ovf in rows:
        if t in na and not tp:
            table.append((t, "NOT RUN (see below)", "", "", "", "", "", ""))
            notes.setdefault(t, []).insert(0, "NOT RUN: " + na[t])
            continue
        ratio = f"{med[t] / base:.2f}" if (base and med[t]) else "-"
        lat = f"{median(lat_ms):.2f}" if lat_ms else "-"
        c = f"{median(cpu):,.0f}" if cpu else "-"
        r = rss.get(t)
        rs = "-"
        if r:
            rs = f"{r[0] / 1024:.1f}" + (f" ({r[2]} procs)" if r[2] > 1 else "")
        dv = f"{delivered}/{sent}" + (" FAILED" if failed else "")
        table.append((t, fmt_rate(rates), ratio, lat, c, rs, str(ovf), dv))
    widths = [max(len(str(row[i])) for row in [hdr] + table) for i in range(len(hdr))]
    line = lambda row: "  ".join(str(v).ljust(widths[i]) if i == 0 else str(v).rjust(widths[i])
                                  for i, v in enumerate(row)).rstrip()
    print(line(hdr))
    for row in table:
        print(line(row))
    for t in targets:
        for n in notes.get(t, []):
            print(f"  {t}: {n}")
    # failures in detail
    for t, tp, rates, lat_ms, cpu, sent, delivered, failed, ovf in rows:
        for r in failed:
            print(f"  FAILED {t} {r['kind']} round {r['round']}: rc={r['rc']} delivered {r['delivered']}/{r['count']}")
    if a.targets_json:
        out = {t: {"median": med[t]} for t in targets}
        with open(a.targets_json, "w") as f:
            json.dump(out, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("cpu"); p.add_argument("pid", type=int); p.set_defaults(f=cmd_cpu)
    p = sub.add_parser("tree"); p.add_argument("pid", type=int)
    p.set_defaults(f=lambda a: print(" ".join(map(str, tree(a.pid)))))
    p = sub.add_parser("mem"); p.add_argument("--tree", action="store_true"); p.add_argument("pid", type=int)
    p.set_defaults(f=cmd_mem)
    p = sub.add_parser("clear-hwm"); p.add_argument("--tree", action="store_true"); p.add_argument("pid", type=int)
    p.set_defaults(f=cmd_clear_hwm)
    p = sub.add_parser("sample"); p.add_argument("--out", required=True)
    p.add_argument("--interval", type=float, default=0.2); p.add_argument("procs", nargs="+")
    p.set_defaults(f=cmd_sample)
    p = sub.add_parser("idle"); p.add_argument("--port", type=int, required=True)
    p.add_argument("--n", type=int, required=True); p.add_argument("--batch", type=int, default=200)
    p.add_argument("--hold", type=float, default=5); p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--pid", type=int, required=True); p.add_argument("--count-port", type=int)
    p.add_argument("--abort", action="store_true"); p.add_argument("--settle", type=float, default=30)
    p.set_defaults(f=cmd_idle)
    p = sub.add_parser("scan"); p.add_argument("--clamd", required=True); p.add_argument("--spamd", required=True)
    p.add_argument("--msg", required=True); p.add_argument("--n", type=int, required=True)
    p.add_argument("--concurrency", type=int, default=20); p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(f=cmd_scan)
    p = sub.add_parser("steps"); p.add_argument("--n", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3); p.add_argument("--size", type=int, default=2048)
    p.add_argument("targets", nargs="+"); p.set_defaults(f=cmd_steps)
    p = sub.add_parser("udpsink"); p.add_argument("--port", type=int, required=True)
    p.add_argument("--max-secs", type=float, default=3600); p.add_argument("--log")
    p.set_defaults(f=cmd_udpsink)
    p = sub.add_parser("report"); p.add_argument("--runs", required=True); p.add_argument("--rss")
    p.add_argument("--notes"); p.add_argument("--na"); p.add_argument("--targets", required=True)
    p.add_argument("--targets-json"); p.set_defaults(f=cmd_report)
    a = ap.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
