#!/usr/bin/env python3
"""Load for bench/compare.sh's shield modes (issue 17), loopback only.

bots       COUNT connections of five bot kinds, CONCURRENCY at a time:
           connect-and-close, an early talker (EHLO and MAIL before the
           greeting), a bare-IP HELO then MAIL/RCPT (refused at RCPT), a whole
           session in one write (unauthorised pipelining), an HTTP request.
           Prints JSON: sessions, seconds, errors.
slowloris  SLOW connections that trickle one byte every TRICKLE seconds, either
           from the start ("commands") or after EHLO/MAIL/RCPT/DATA ("data"),
           then an honest client sends HONEST messages one by one (a new
           connection each, 30 s per message at most), all within LIMIT
           seconds. Prints JSON: delivered, sent, latency p50/p99 of the
           delivered ones, and the first reply code of each failure.

Bounded: every connection and every read has a timeout; the run ends at LIMIT.
"""

import argparse
import asyncio
import json
import time

MSG = "From: a@sender.example\r\nTo: {to}\r\nSubject: honest {i}\r\n\r\nhello\r\n.\r\n"


async def reply(reader, timeout):
    """One SMTP reply's code, or 0 on a close or a timeout."""
    code = 0
    while True:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            return 0
        if not line:
            return 0
        code = int(line[:3]) if line[:3].isdigit() else 0
        if line[3:4] != b"-":
            return code


async def bot(port, kind, timeout):
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (asyncio.TimeoutError, OSError):
        return False
    try:
        if kind == 0:  # connect and close
            pass
        elif kind == 1:  # early talker
            w.write(b"EHLO bot.example\r\nMAIL FROM:<spam@bot.example>\r\n")
            await w.drain()
            await reply(r, timeout)
        else:
            await reply(r, timeout)  # the greeting
            if kind == 2:  # a bad HELO, refused at RCPT
                for line in (b"EHLO 203.0.113.9", b"MAIL FROM:<spam@bot.example>", b"RCPT TO:<v@sink.test>", b"QUIT"):
                    w.write(line + b"\r\n")
                    await w.drain()
                    await reply(r, timeout)
            elif kind == 3:  # a whole session in one write
                w.write(b"EHLO bot.example\r\nMAIL FROM:<spam@bot.example>\r\nRCPT TO:<v@sink.test>\r\nDATA\r\n"
                        b"Subject: spam\r\n\r\nbuy\r\n.\r\nQUIT\r\n")
                await w.drain()
                while await reply(r, timeout):
                    pass
            else:  # HTTP
                w.write(b"GET / HTTP/1.1\r\nHost: mx\r\n\r\n")
                await w.drain()
                await reply(r, timeout)
        return True
    except (ConnectionError, OSError):
        return True
    finally:
        w.close()


async def bots_main(a):
    sem = asyncio.Semaphore(a.concurrency)
    errors = 0

    async def one(i):
        nonlocal errors
        async with sem:
            if not await bot(a.port, i % 5, a.timeout):
                errors += 1

    start = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(a.count)))
    print(json.dumps({"sessions": a.count, "seconds": round(time.monotonic() - start, 2), "errors": errors}))


async def slow_client(port, phase, trickle, until):
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
    except (asyncio.TimeoutError, OSError):
        return
    try:
        if phase == "data":
            await reply(r, 30)
            for line in (b"EHLO slow.example", b"MAIL FROM:<slow@sender.example>", b"RCPT TO:<v@example.test>", b"DATA"):
                w.write(line + b"\r\n")
                await w.drain()
                if await reply(r, 30) >= 400:
                    return
        while time.monotonic() < until:
            w.write(b"X")
            await w.drain()
            await asyncio.sleep(trickle)
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()


async def honest_message(port, i, rcpt):
    """(code of the failing reply or 250, seconds)."""
    start = time.monotonic()
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
    except (asyncio.TimeoutError, OSError):
        return 0, time.monotonic() - start
    try:
        code = await reply(r, 30)
        if code != 220:
            return code, time.monotonic() - start
        for line, want in ((b"EHLO mail.client.example", 250), (b"MAIL FROM:<a@sender.example>", 250),
                           (f"RCPT TO:<{rcpt}>".encode(), 250), (b"DATA", 354)):
            w.write(line + b"\r\n")
            await w.drain()
            code = await reply(r, 30)
            if code != want:
                return code, time.monotonic() - start
        w.write(MSG.format(to=rcpt, i=i).encode())
        await w.drain()
        code = await reply(r, 30)
        w.write(b"QUIT\r\n")
        await w.drain()
        return code, time.monotonic() - start
    except (ConnectionError, OSError):
        return 0, time.monotonic() - start
    finally:
        w.close()


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p / 100 * len(xs)))], 2)


async def slowloris_main(a):
    start = time.monotonic()
    until = start + a.limit
    flood = []
    for i in range(a.slow):
        flood.append(asyncio.create_task(slow_client(a.port, a.phase, a.trickle, until)))
        if i % 100 == 99:
            await asyncio.sleep(0.1)
    await asyncio.sleep(a.settle)
    took, failures = [], []
    for i in range(a.honest):
        if time.monotonic() >= until:
            failures.append("out of time")
            continue
        code, secs = await honest_message(a.port, i, a.rcpt)
        if code == 250:
            took.append(secs)
        else:
            failures.append(code)
    for t in flood:
        t.cancel()
    await asyncio.gather(*flood, return_exceptions=True)
    print(json.dumps({"delivered": len(took), "sent": a.honest, "p50": pct(took, 50), "p99": pct(took, 99),
                      "failures": failures[:5], "seconds": round(time.monotonic() - start, 1)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("bots")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--timeout", type=float, default=10)
    p = sub.add_parser("slowloris")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--phase", choices=["commands", "data"], required=True)
    p.add_argument("--slow", type=int, default=800)
    p.add_argument("--trickle", type=float, default=5)
    p.add_argument("--honest", type=int, default=50)
    p.add_argument("--settle", type=float, default=15)
    p.add_argument("--limit", type=float, default=100)
    p.add_argument("--rcpt", default="honest@example.test")
    a = ap.parse_args()
    asyncio.run(bots_main(a) if a.cmd == "bots" else slowloris_main(a))


if __name__ == "__main__":
    main()
