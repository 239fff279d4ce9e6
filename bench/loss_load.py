#!/usr/bin/env python3
"""Load for bench/compare.sh's loss mode (issue 13), loopback only, stdlib only.

load   SESSIONS concurrent SMTP sessions send COUNT messages through doorman,
       each with a unique tag (recipient loss+TAG@DOMAIN, Message-ID
       <TAG@loss.bench.test>). A share carries EICAR or GTUBE and must be
       refused. Like an MTA, a message is retried on a 4xx reply and on a
       connection error before its 250 (new connection, exponential backoff
       with jitter, at most RETRIES attempts); a 5xx is final. Writes one JSON
       line per message to OUT, the count of finished messages to PROGRESS
       (once a second, for the faults the caller injects), and a JSON summary
       on stdout.
check  Reads the Maildir (new/ and cur/) and OUT: per tag, how many copies
       were delivered. Prints a JSON summary: accepted, delivered, lost,
       duplicated, refused-but-delivered, ... and exits 1 unless every
       accepted message is there exactly once and no refused one is.
flood  A normal client sends messages one after the other (a new connection
       each); its latency (connect to the 250 after the final dot) is
       measured first alone, then while SLOW connections trickle one byte
       every TRICKLE seconds: their commands from the connect on
       ("commands"), then, in a second phase, their message after a prompt
       DATA ("data"). Prints JSON: p50/p99 of each phase, failures, and the
       p99 ratio to the phase alone.

Bounded: every connection and read has a timeout; load ends at LIMIT seconds
(messages not finished by then count as "unfinished"), flood at its phases'
counts or LIMIT.
"""

import argparse
import asyncio
import email.parser
import json
import os
import random
import sys
import time

EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
BODY = (
    "Hello,\r\n\r\n"
    "this is message {tag} of the doorman loss benchmark. It is an ordinary\r\n"
    "note between two colleagues about the minutes of last week's meeting,\r\n"
    "which are attached further down in plain text for convenience.\r\n\r\n"
    "Minutes: the team agreed to review the release checklist on Monday,\r\n"
    "to move the weekly call to Thursday afternoon, and to keep the shared\r\n"
    "calendar up to date. Open points will be discussed next time.\r\n\r\n"
    "Regards,\r\nAlice\r\n"
)


def message(tag, kind, rcpt, domain, tagged=True):
    body = BODY.format(tag=tag)
    if kind == "virus":
        body += "\r\n" + EICAR + "\r\n"
    elif kind == "spam":
        body += "\r\n" + GTUBE + "\r\n"
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    head = (f"Date: {date}\r\nFrom: Alice <alice@sender.example>\r\nTo: <{rcpt}>\r\n"
            f"Subject: minutes {tag}\r\nMessage-ID: <{tag}@loss.bench.test>\r\n"
            + (f"X-Loss-Tag: {tag}\r\n" if tagged else "") + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n")
    data = (head + "\r\n" + body).replace("\r\n.", "\r\n..")
    return data.encode() + b".\r\n"


class Closed(Exception):
    """The connection broke (EOF, reset, timeout)."""


async def reply(reader, timeout):
    """(code, text) of one SMTP reply; raises Closed."""
    lines = []
    while True:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout)
        except (asyncio.TimeoutError, ConnectionError, OSError) as e:
            raise Closed(type(e).__name__) from None
        if not line:
            raise Closed("eof")
        lines.append(line.decode("latin-1").rstrip("\r\n"))
        if line[3:4] != b"-":
            code = int(line[:3]) if line[:3].isdigit() else 0
            return code, " | ".join(lines)[:200]


class Session:
    live = 0  # open connections, all sessions of this process
    peak = 0

    def __init__(self):
        self.r = self.w = None

    async def connect(self, port, timeout):
        try:
            self.r, self.w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        except (asyncio.TimeoutError, OSError) as e:
            raise Closed("connect " + type(e).__name__) from None
        Session.live += 1
        Session.peak = max(Session.peak, Session.live)

    async def open(self, port, helo, timeout):
        """Connect, greeting, EHLO: (code, text) of the first reply that is not 220/250."""
        await self.connect(port, timeout)
        code, text = await reply(self.r, timeout)
        if code != 220:
            return code, text
        return await self.cmd(f"EHLO {helo}", timeout)

    async def cmd(self, line, timeout):
        try:
            self.w.write(line.encode() + b"\r\n")
            await self.w.drain()
        except (ConnectionError, OSError, AttributeError) as e:
            raise Closed(type(e).__name__) from None
        return await reply(self.r, timeout)

    async def quit(self):
        if self.w is not None:
            try:
                await asyncio.wait_for(self.cmd("QUIT", 2), 3)
            except (Closed, asyncio.TimeoutError):
                pass
        self.close()

    def close(self):
        if self.w is not None:
            Session.live -= 1
            try:
                self.w.close()
            except (ConnectionError, OSError, RuntimeError):
                pass
        self.r = self.w = None


# ---------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------
async def load_main(a):
    start = time.monotonic()
    deadline = start + a.limit
    kinds = []
    for i in range(a.count):
        if a.eicar_every and i % a.eicar_every == a.eicar_every // 3:
            kinds.append("virus")
        elif a.gtube_every and i % a.gtube_every == (2 * a.gtube_every) // 3:
            kinds.append("spam")
        else:
            kinds.append("ham")
    pending = list(range(a.count))
    pending.reverse()
    results = {}
    stats = {"attempts": 0, "retries": 0, "codes": {}, "errors": {}}
    done = 0

    def count(table, key):
        stats[table][key] = stats[table].get(key, 0) + 1

    async def send_one(s, i):
        """One attempt on an open session: ('accepted'|'refused'|'retry', code, text)."""
        tag = f"{a.run}-{i:05d}"
        rcpt = f"loss+{tag}@{a.domain}"
        for line, want in (("MAIL FROM:<alice@sender.example>", 250), (f"RCPT TO:<{rcpt}>", 250), ("DATA", 354)):
            code, text = await s.cmd(line, a.timeout)
            if code != want:
                if 500 <= code < 600:
                    await s.cmd("RSET", a.timeout)  # the session goes on with the next message
                    return "refused", code, line.split()[0] + ": " + text
                return "retry", code, line.split()[0] + ": " + text
        try:
            s.w.write(message(tag, kinds[i], rcpt, a.domain))
            await s.w.drain()
        except (ConnectionError, OSError) as e:
            raise Closed(type(e).__name__) from None
        try:
            code, text = await reply(s.r, a.final_timeout)
        except Closed as e:
            e.after_dot = True  # sent, but no reply: the outcome is unknown (RFC 1047)
            raise
        if code == 250:
            return "accepted", code, text
        return ("refused" if 500 <= code < 600 else "retry"), code, "dot: " + text

    async def worker(wid):
        nonlocal done
        s = Session()
        rnd = random.Random(wid)
        try:
            while pending and time.monotonic() < deadline:
                i = pending.pop()
                res = {"tag": f"{a.run}-{i:05d}", "kind": kinds[i], "outcome": "gave_up", "attempts": 0,
                       "ambiguous": 0, "codes": []}
                results[i] = res
                for attempt in range(a.retries):
                    if time.monotonic() >= deadline:
                        res["outcome"] = "unfinished"
                        break
                    res["attempts"] += 1
                    stats["attempts"] += 1
                    if attempt:
                        stats["retries"] += 1
                    try:
                        if s.w is None:
                            code, text = await s.open(a.port, a.helo, a.timeout)
                            if code != 250:
                                raise Closed(f"greeting/EHLO {code} {text}")
                        outcome, code, text = await send_one(s, i)
                    except Closed as e:
                        s.close()
                        if getattr(e, "after_dot", False):
                            res["ambiguous"] += 1
                        count("errors", str(e).split()[0] + (" after dot" if getattr(e, "after_dot", False) else ""))
                        res["codes"].append(f"conn: {e}"[:120])
                        outcome, code = "retry", 0
                    else:
                        count("codes", str(code))
                        if outcome != "accepted":
                            res["codes"].append(f"{code} {text}"[:120])
                    if outcome in ("accepted", "refused"):
                        res["outcome"], res["code"] = outcome, code
                        break
                    # a 4xx or a broken connection: a new connection after a backoff
                    await s.quit()
                    back = min(a.max_backoff, a.backoff * 2 ** attempt) * (0.5 + rnd.random() / 2)
                    await asyncio.sleep(max(0.0, min(back, deadline - time.monotonic())))
                done += 1
        finally:
            await s.quit()

    async def progress():
        while True:
            with open(a.progress + ".tmp", "w") as f:
                f.write(f"{done} {a.count} {Session.live} {round(time.monotonic() - start, 1)}\n")
            os.replace(a.progress + ".tmp", a.progress)
            await asyncio.sleep(1)

    prog = asyncio.create_task(progress()) if a.progress else None
    workers = []
    for w in range(a.sessions):  # ramp up: 100 connections every 0.1 s
        workers.append(asyncio.create_task(worker(w)))
        if w % 100 == 99:
            await asyncio.sleep(0.1)
    await asyncio.gather(*workers)
    if prog:
        prog.cancel()
    for i in pending:  # never started (out of time)
        results[i] = {"tag": f"{a.run}-{i:05d}", "kind": kinds[i], "outcome": "unfinished", "attempts": 0,
                      "ambiguous": 0, "codes": []}
    with open(a.out, "w") as f:
        for i in sorted(results):
            f.write(json.dumps(results[i]) + "\n")
    out = {}
    for r in results.values():
        out[r["outcome"]] = out.get(r["outcome"], 0) + 1
    print(json.dumps({"messages": a.count, "sessions": a.sessions, "peak_open_sessions": Session.peak,
                      "outcomes": out, "attempts": stats["attempts"], "retries": stats["retries"],
                      "ambiguous": sum(r["ambiguous"] for r in results.values()),
                      "codes": stats["codes"], "conn_errors": stats["errors"],
                      "seconds": round(time.monotonic() - start, 1)}))


# ---------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------
def check_main(a):
    results = [json.loads(line) for line in open(a.results)]
    copies = {}
    other = 0
    parser = email.parser.BytesHeaderParser()
    for sub in ("new", "cur"):
        d = os.path.join(a.maildir, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                h = parser.parse(f)
            tag = (h.get("X-Loss-Tag") or "").strip()
            if not tag:
                other += 1  # the warm-up's and the flood's messages
                continue
            copies[tag] = copies.get(tag, 0) + 1
    known = {r["tag"] for r in results}
    acc = [r for r in results if r["outcome"] == "accepted"]
    refused = [r for r in results if r["outcome"] == "refused"]
    s = {
        "messages": len(results),
        "accepted": len(acc),
        "refused": len(refused),
        "refused_virus": sum(r["kind"] == "virus" for r in refused),
        "refused_spam": sum(r["kind"] == "spam" for r in refused),
        "refused_ham": sum(r["kind"] == "ham" for r in refused),
        "gave_up": sum(r["outcome"] == "gave_up" for r in results),
        "unfinished": sum(r["outcome"] == "unfinished" for r in results),
        "files": sum(copies.values()),
        "untagged_files": other,
        "delivered": sum(1 for r in acc if copies.get(r["tag"], 0) >= 1),
        "lost": sum(1 for r in acc if copies.get(r["tag"], 0) == 0),
        "duplicated": sum(1 for t, n in copies.items() if n > 1),
        "refused_but_delivered": sum(1 for r in refused if copies.get(r["tag"], 0) > 0),
        "bad_kind_accepted": sum(1 for r in acc if r["kind"] != "ham"),
        "delivered_without_250": sum(1 for r in results if r["outcome"] in ("gave_up", "unfinished")
                                     and copies.get(r["tag"], 0) > 0),
        "unknown_files": sum(n for t, n in copies.items() if t not in known),
        "ambiguous_attempts": sum(r["ambiguous"] for r in results),
    }
    s["examples"] = {
        "lost": [r["tag"] for r in acc if copies.get(r["tag"], 0) == 0][:5],
        "duplicated": [t for t, n in copies.items() if n > 1][:5],
        "refused_but_delivered": [r["tag"] for r in refused if copies.get(r["tag"], 0) > 0][:5],
        "gave_up": [(r["tag"], r["codes"][-2:]) for r in results if r["outcome"] == "gave_up"][:3],
    }
    s["pass"] = (s["accepted"] > 0 and s["lost"] == 0 and s["duplicated"] == 0 and s["refused_but_delivered"] == 0
                 and s["bad_kind_accepted"] == 0 and s["unknown_files"] == 0)
    print(json.dumps(s))
    return 0 if s["pass"] else 1


# ---------------------------------------------------------------------------
# flood
# ---------------------------------------------------------------------------
async def slow_client(port, phase, trickle, stop, count):
    """Trickle one byte every TRICKLE seconds until STOP: the commands from
    the connect on, or (phase "data") the message after a prompt DATA."""
    s = Session()
    try:
        if phase == "data":
            code, _ = await s.open(port, "slow.sender.example", 30)
            for line in ("MAIL FROM:<slow@sender.example>", "RCPT TO:<slow@example.test>", "DATA"):
                if code >= 400:
                    count["refused"] += 1
                    return
                code, _ = await s.cmd(line, 30)
            if code != 354:
                count["refused"] += 1
                return
            feed = b"Subject: slow\r\n\r\n" + b"a slow line of text, one byte at a time\r\n" * 1000
        else:
            await s.connect(port, 30)
            feed = (b"EHLO slow.sender.example\r\nMAIL FROM:<slow@sender.example>\r\n"
                    b"RCPT TO:<slow@example.test>\r\nDATA\r\n" + b"x" * 100000)
        count["opened"] += 1
        count["alive"] += 1
        try:
            for b in feed:
                if stop.is_set():
                    break
                s.w.write(bytes([b]))
                await s.w.drain()
                try:
                    await asyncio.wait_for(stop.wait(), trickle)
                except asyncio.TimeoutError:
                    pass
            if not stop.is_set():
                count["dropped"] += 1
        except (ConnectionError, OSError):
            count["dropped"] += 1
        finally:
            count["alive"] -= 1
    except (Closed, ConnectionError, OSError, asyncio.TimeoutError):
        count["failed"] += 1
    finally:
        s.close()


async def normal_message(port, i, rcpt, timeout):
    """(250 or the failing code, seconds)."""
    start = time.monotonic()
    s = Session()
    try:
        code, _ = await s.open(port, "mail.client.example", timeout)
        if code != 250:
            return code, time.monotonic() - start
        for line, want in (("MAIL FROM:<alice@sender.example>", 250), (f"RCPT TO:<{rcpt}>", 250), ("DATA", 354)):
            code, _ = await s.cmd(line, timeout)
            if code != want:
                return code, time.monotonic() - start
        s.w.write(message(f"flood-{i}", "ham", rcpt, "example.test", tagged=False))
        await s.w.drain()
        code, _ = await reply(s.r, timeout)
        took = time.monotonic() - start
        try:
            await s.cmd("QUIT", 5)
        except Closed:
            pass
        return code, took
    except (Closed, ConnectionError, OSError):
        return 0, time.monotonic() - start
    finally:
        s.close()


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p / 100 * len(xs)))], 3)


async def flood_main(a):
    start = time.monotonic()
    phases = {}

    async def normal(name, n, limit):
        took, fail = [], []
        until = min(start + a.limit, time.monotonic() + limit)
        for i in range(n):
            if time.monotonic() >= until:
                fail.append("out of time")
                break
            code, secs = await normal_message(a.port, f"{name}-{i}", a.rcpt, 60)
            (took.append(secs) if code == 250 else fail.append(code))
        phases[name] = {"sent": len(took) + len(fail) - fail.count("out of time"), "delivered": len(took),
                        "p50": pct(took, 50), "p99": pct(took, 99), "max": round(max(took), 3) if took else None,
                        "failures": len(fail) - fail.count("out of time"), "first_failures": fail[:3]}

    async def flooded(name, phase):
        stop = asyncio.Event()
        count = {"opened": 0, "alive": 0, "dropped": 0, "refused": 0, "failed": 0}
        flood = []
        for i in range(a.slow):
            flood.append(asyncio.create_task(slow_client(a.port, phase, a.trickle, stop, count)))
            if i % 50 == 49:
                await asyncio.sleep(0.1)
        await asyncio.sleep(a.settle)
        alive = count["alive"]
        await normal(name, a.messages, a.phase_limit)
        phases[name].update(slow_trickling_at_start=alive, slow_trickling_at_end=count["alive"], slow=count)
        stop.set()
        await asyncio.gather(*flood, return_exceptions=True)
        await asyncio.sleep(2)

    await normal("alone", a.messages, a.phase_limit)
    for phase in filter(None, a.phases.split(",")):
        await flooded(phase, phase)
    r = {"slow": a.slow, "trickle_s": a.trickle, **phases}
    for phase in filter(None, a.phases.split(",")):
        if phases["alone"]["p99"] and phases[phase]["p99"] and not phases[phase]["failures"]:
            phases[phase]["p99_ratio"] = round(phases[phase]["p99"] / phases["alone"]["p99"], 2)
    r["seconds"] = round(time.monotonic() - start, 1)
    print(json.dumps(r))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("load")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=4000)
    p.add_argument("--sessions", type=int, default=500)
    p.add_argument("--eicar-every", type=int, default=50, help="one message in N carries EICAR (0: none)")
    p.add_argument("--gtube-every", type=int, default=50, help="one message in N carries GTUBE (0: none)")
    p.add_argument("--retries", type=int, default=10, help="attempts per message at most")
    p.add_argument("--backoff", type=float, default=1.0)
    p.add_argument("--max-backoff", type=float, default=10.0)
    p.add_argument("--timeout", type=float, default=60, help="each reply but the final one")
    p.add_argument("--final-timeout", type=float, default=240, help="the reply to the final dot")
    p.add_argument("--limit", type=float, default=300)
    p.add_argument("--run", default="r" + str(os.getpid()))
    p.add_argument("--domain", default="example.test")
    p.add_argument("--helo", default="mta1.sender.example")
    p.add_argument("--out", required=True)
    p.add_argument("--progress", default="")
    p = sub.add_parser("check")
    p.add_argument("--maildir", required=True)
    p.add_argument("--results", required=True)
    p = sub.add_parser("flood")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--slow", type=int, default=300)
    p.add_argument("--trickle", type=float, default=1)
    p.add_argument("--messages", type=int, default=100, help="normal messages per phase")
    p.add_argument("--phases", default="commands,data", help="flood phases after the one alone")
    p.add_argument("--phase-limit", type=float, default=45, help="seconds per phase of the normal client")
    p.add_argument("--settle", type=float, default=5)
    p.add_argument("--limit", type=float, default=150)
    p.add_argument("--rcpt", default="flood@example.test")
    a = ap.parse_args()
    if a.cmd == "check":
        sys.exit(check_main(a))
    asyncio.run(load_main(a) if a.cmd == "load" else flood_main(a))


if __name__ == "__main__":
    main()
