#!/usr/bin/env python3
"""overload.py: an open-loop load generator for ingest-gw (bench-overload.sh).

Closed-loop tools (wrk) slow down with the server, so they never offer more
than it takes. This one fires requests on a fixed schedule whatever the
answers: RATE requests/s of BATCH readings each for SECONDS, each on an
idle keep-alive connection or a new one (at most MAX_OPEN requests open at
once; past that a request is counted "not sent", the client's limit, not
the server's). Samples the
gateway's RSS every 0.5 s. Prints one JSON line:
  {"offered":..,"sent":..,"codes":{"202":..,"503":..},"retry_after_missing":..,
   "errors":..,"not_sent":..,"p50_ms":..,"p99_ms":..,"rss_max_kb":..,"rss_start_kb":..}

  overload.py PORT RATE SECONDS BATCH PID [MAX_OPEN]
"""
import asyncio
import json
import sys
import time


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def bodies(batch, n=16):
    out = []
    for b in range(n):
        items = ",".join(
            '{"meter_id":"OVL-%05d","ts":%d,"value":%d.5,"unit":"W","interval_s":60}'
            % ((b * batch + i) % 10000, 1710511200000 + (b * batch + i) * 1000, i)
            for i in range(batch))
        out.append(("[" + items + "]").encode())
    return out


async def one(port, body, stats, sem, pool):
    t0 = time.monotonic()
    conn = None
    try:
        conn = pool.pop() if pool else await asyncio.open_connection("127.0.0.1", port)
        reader, writer = conn
        writer.write(b"POST /v1/readings HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        length = 0
        for line in head.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        code = head.split(b" ", 2)[1].decode()
        stats["codes"][code] = stats["codes"].get(code, 0) + 1
        if code in ("503", "429") and b"\nretry-after:" not in head.lower():
            stats["retry_after_missing"] += 1
        stats["lat"].append((time.monotonic() - t0) * 1000)
        if b"connection: close" in head.lower():
            writer.close()
        else:
            pool.append(conn)  # keep-alive: the next request reuses it
    except Exception:
        stats["errors"] += 1
        if conn:
            conn[1].close()
    finally:
        sem.release()


async def main():
    port, rate, secs, batch, pid = (int(a) for a in sys.argv[1:6])
    max_open = int(sys.argv[6]) if len(sys.argv) > 6 else 2000
    bs = bodies(batch)
    stats = {"codes": {}, "retry_after_missing": 0, "errors": 0, "lat": [], "not_sent": 0}
    sem = asyncio.Semaphore(max_open)
    rss = [rss_kb(pid)]
    start = time.monotonic()
    tasks, sent, next_sample, pool = [], 0, start, []
    total = rate * secs
    for i in range(total):
        due = start + i / rate
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        if time.monotonic() >= next_sample:
            rss.append(rss_kb(pid))
            next_sample += 0.5
        if sem.locked():
            stats["not_sent"] += 1
            continue
        await sem.acquire()
        tasks.append(asyncio.ensure_future(one(port, bs[i % len(bs)], stats, sem, pool)))
        sent += 1
    while any(not t.done() for t in tasks):
        rss.append(rss_kb(pid))
        await asyncio.sleep(0.5)
    lat = sorted(stats["lat"]) or [0]
    print(json.dumps({
        "offered": total, "sent": sent, "codes": stats["codes"],
        "retry_after_missing": stats["retry_after_missing"], "errors": stats["errors"],
        "not_sent": stats["not_sent"], "seconds": round(time.monotonic() - start, 1),
        "p50_ms": round(lat[len(lat) // 2]), "p99_ms": round(lat[int(len(lat) * 0.99)]),
        "rss_start_kb": rss[0], "rss_max_kb": max(rss)}))


if __name__ == "__main__":
    asyncio.run(main())
