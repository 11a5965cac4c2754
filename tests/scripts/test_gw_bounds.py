#!/usr/bin/env python3
"""test_gw_bounds.py: slow clients cannot hold ingest-gw's connections, and
the bodies it holds stay under GW_MAX_INFLIGHT_BYTES (issue 17).

libmicrohttpd's own timeout is an idle one that every byte resets; the
gateway adds two deadlines (common/mf_http_guard): the next request line
within GW_IDLE_TIMEOUT_S of the last answer, the whole request within
GW_REQUEST_TIMEOUT_S of its request line. Checked against the real
gateway (no broker needed: nothing here is acknowledged by Kafka):
  - a request line trickled a byte every 0.4 s is cut at the idle deadline;
  - a header trickled a byte every 0.4 s is cut at the request deadline;
  - a body that never ends is cut at the request deadline;
  - GW_MAX_CONNECTIONS trickling clients: an honest client is served
    again once their deadlines pass, and the metric counts them;
  - an honest keep-alive client sending a request a second for longer than
    both deadlines is never cut;
  - GW_REQUEST_TIMEOUT_S not above GW_ACK_TIMEOUT_MS fails at start naming it;
  - analytics-api has the same guard: a trickled header is cut at
    API_REQUEST_TIMEOUT_S, a trickled request line at API_IDLE_TIMEOUT_S;
  - load shedding: with no broker a request waits for Kafka's ack, holding
    its body until its records' last delivery report; with
    GW_MAX_INFLIGHT_BYTES=1 MiB a second 650 KB request meanwhile is
    answered 503 with Retry-After at once (its body read and dropped), and
    once the first's records are settled the next is admitted again (it
    waits its own ack timeout).
Without the guard the trickles would hold their connections for ever (each
byte resets the idle timeout), so every check here can fail.
Prints "bounds: N passed, M failed".
"""
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BIN = os.environ.get("MF_BIN_DIR", "build/bin")
IDLE_S, REQUEST_S, MAX_CONN = 4, 3, 16
STEP = 0.4  # seconds between trickled bytes: well under the idle timeout
SLACK = 1.5  # the guard checks every 0.2 s; a loaded machine adds more

passed = failed = 0


def check(name, ok):
    global passed, failed
    if ok:
        passed += 1
        print(f"  ok    {name}")
    else:
        failed += 1
        print(f"  FAIL  {name}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def trickle(port, head, drip, limit_s):
    """Sends head at once, then drip a byte at a time every STEP seconds.
    Returns how long after the head the server ended the connection, or
    None if it was still open after limit_s."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(head)
    t0 = time.monotonic()
    i = 0
    try:
        while time.monotonic() - t0 < limit_s:
            s.send(drip[i % len(drip)].to_bytes(1, "big"))
            i += 1
            s.settimeout(STEP)
            try:
                if s.recv(4096) == b"":
                    return time.monotonic() - t0
            except socket.timeout:
                pass
    except (BrokenPipeError, ConnectionResetError):
        return time.monotonic() - t0
    finally:
        s.close()
    return None


def healthz(port, timeout=2):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as r:
            return r.status
    except Exception:
        return None


def metric(port, name):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name):
                    return float(line.rsplit(" ", 1)[1])
    except Exception:
        pass
    return None


def post(port, body, out):
    """POSTs body; appends (code, seconds, has Retry-After, answer) to out."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/v1/readings", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        out.append((r.status, time.monotonic() - t0, r.getheader("Retry-After") is not None, text))
    except (OSError, http.client.HTTPException) as e:
        out.append((None, time.monotonic() - t0, False, str(e)))
    finally:
        conn.close()


def shedding():
    port = free_port()
    ack_s = 3
    env = dict(os.environ, KAFKA_BROKERS="127.0.0.1:1", HTTP_ADDR=f"127.0.0.1:{port}",
               GW_AUTH="off", GW_ACK_TIMEOUT_MS=str(ack_s * 1000),
               GW_MAX_INFLIGHT_BYTES=str(1 << 20))
    item = '{"meter_id":"SHED-%04d","ts":%d,"value":1.5,"unit":"kW","interval_s":60}'
    body = ("[" + ",".join(item % (i % 5000, 1710511200000 + i * 60000) for i in range(8000))
            + "]").encode()
    gw = subprocess.Popen([os.path.join(BIN, "ingest-gw")], env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if healthz(port) == 200:
                break
            time.sleep(0.1)
        first, second, third = [], [], []
        t = threading.Thread(target=post, args=(port, body, first))
        t.start()
        time.sleep(1)  # the first now waits for an ack that cannot come
        post(port, body, second)
        t.join()
        deadline = time.monotonic() + 30  # the first's records settle within message.timeout.ms
        while time.monotonic() < deadline:
            third.clear()
            post(port, body, third)
            if third[0][0] != 503 or "GW_MAX_INFLIGHT_BYTES" not in third[0][3]:
                break
            time.sleep(0.5)
        code, secs, retry, text = second[0]
        check(f"a {len(body) // 1024} KB request while one as big is held under a 1 MiB budget: "
              f"503 at once with Retry-After naming GW_MAX_INFLIGHT_BYTES ({code}, "
              f"{secs:.2f} s)", code == 503 and retry and secs < 1.0
              and "GW_MAX_INFLIGHT_BYTES" in text)
        code, secs, _, text = first[0]
        check(f"the held one is answered 503 after its ack timeout ({code}, {secs:.1f} s)",
              code == 503 and ack_s - 0.5 <= secs <= ack_s + 2 and "acknowledge" in text)
        code, secs, _, text = third[0]
        check(f"then the next is admitted again: it waits for its own ack ({code}, {secs:.1f} s)",
              code == 503 and secs >= ack_s - 0.5 and "acknowledge" in text)
        shed = metric(port, "meterflow_gw_shed_requests_total")
        check(f"meterflow_gw_shed_requests_total counts the shed ones ({shed})",
              shed is not None and shed >= 1)
    finally:
        gw.terminate()
        gw.wait(timeout=30)


def api_guard():
    port = free_port()
    idle_s, request_s = 3, 4
    env = dict(os.environ, PG_DSN="postgresql://127.0.0.1:1/none", API_ADDR=f"127.0.0.1:{port}",
               API_AUTH="off", API_IDLE_TIMEOUT_S=str(idle_s),
               API_REQUEST_TIMEOUT_S=str(request_s), API_STATEMENT_TIMEOUT_MS="1000")
    api = subprocess.Popen([os.path.join(BIN, "analytics-api")], env=env,
                           stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if healthz(port) == 200:
                break
            time.sleep(0.1)
        t = trickle(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-Slow: aaaa\r\n",
                    request_s + 10)
        check(f"analytics-api: a trickled header is cut at API_REQUEST_TIMEOUT_S "
              f"({t and round(t, 1)} s, {request_s} s)",
              t is not None and request_s - 0.5 <= t <= request_s + SLACK)
        t = trickle(port, b"", b"GET /healthz HTTP/1.1\r\n", idle_s + 10)
        check(f"analytics-api: a trickled request line is cut at API_IDLE_TIMEOUT_S "
              f"({t and round(t, 1)} s, {idle_s} s)",
              t is not None and idle_s - 0.5 <= t <= idle_s + SLACK)
        check("analytics-api is still up", api.poll() is None and healthz(port) == 200)
    finally:
        api.terminate()
        api.wait(timeout=30)
    r = subprocess.run([os.path.join(BIN, "analytics-api")], capture_output=True, text=True,
                       timeout=10, env=dict(os.environ, PG_DSN="postgresql://127.0.0.1:1/none",
                                            API_ADDR="127.0.0.1:0", API_AUTH="off",
                                            API_REQUEST_TIMEOUT_S="3",
                                            API_STATEMENT_TIMEOUT_MS="2000"))
    check("API_REQUEST_TIMEOUT_S not above twice API_STATEMENT_TIMEOUT_MS fails at start naming it",
          r.returncode == 2 and "API_REQUEST_TIMEOUT_S" in r.stderr
          and len(r.stderr.strip().splitlines()) == 1)


def main():
    if not os.access(os.path.join(BIN, "ingest-gw"), os.X_OK):
        print(f"bounds: {BIN}/ingest-gw not built")
        return 1
    port = free_port()
    env = dict(os.environ, KAFKA_BROKERS="127.0.0.1:1", HTTP_ADDR=f"127.0.0.1:{port}",
               GW_AUTH="off", GW_ACK_TIMEOUT_MS="1000", GW_IDLE_TIMEOUT_S=str(IDLE_S),
               GW_REQUEST_TIMEOUT_S=str(REQUEST_S), GW_MAX_CONNECTIONS=str(MAX_CONN))
    log = tempfile.TemporaryFile()
    gw = subprocess.Popen([os.path.join(BIN, "ingest-gw")], env=env, stderr=log)
    try:
        for _ in range(100):
            if healthz(port) == 200:
                break
            time.sleep(0.1)
        check("the gateway is up", healthz(port) == 200)

        t = trickle(port, b"", b"GET /healthz HTTP/1.1\r\n", IDLE_S + 10)
        check(f"a request line trickled a byte every {STEP} s is cut at the idle deadline "
              f"({t and round(t, 1)} s, idle {IDLE_S} s)",
              t is not None and IDLE_S - 0.5 <= t <= IDLE_S + SLACK)

        t = trickle(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-Slow: aaaa\r\n",
                    REQUEST_S + 10)
        check(f"a header trickled a byte every {STEP} s is cut at the request deadline "
              f"({t and round(t, 1)} s, request {REQUEST_S} s)",
              t is not None and REQUEST_S - 0.5 <= t <= REQUEST_S + SLACK)

        body_head = (b"POST /v1/readings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n[{\"meter_id\":\"SLOW-1\"")
        t = trickle(port, body_head, b" ", REQUEST_S + 10)
        check(f"a body that never ends is cut at the request deadline ({t and round(t, 1)} s)",
              t is not None and REQUEST_S - 0.5 <= t <= REQUEST_S + SLACK)

        # Every connection slot held by a trickler; an honest client waits, then is served.
        before = metric(port, 'meterflow_http_connections_expired_total{server="ingest-gw"}') or 0
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            trickle(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-Slow: a\r\n",
                    REQUEST_S + 10))) for _ in range(MAX_CONN)]
        for th in threads:
            th.start()
        time.sleep(1)
        t0 = time.monotonic()
        served = None
        while time.monotonic() - t0 < REQUEST_S + 10 and served is None:
            if healthz(port, timeout=1) == 200:
                served = time.monotonic() - t0
        for th in threads:
            th.join()
        check(f"{MAX_CONN} trickling clients (the connection limit) all cut "
              f"({sum(r is not None for r in results)} of {MAX_CONN})",
              all(r is not None and r <= REQUEST_S + SLACK for r in results))
        check(f"an honest client is served once their deadlines pass "
              f"({served and round(served, 1)} s after they filled the limit)",
              served is not None and served <= REQUEST_S + SLACK)
        after = metric(port, 'meterflow_http_connections_expired_total{server="ingest-gw"}')
        check(f"meterflow_http_connections_expired_total counts them ({before} -> {after})",
              after is not None and after - before >= MAX_CONN)

        # An honest keep-alive client: a request a second for longer than both deadlines.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        answers = 0
        first_sock = None
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < IDLE_S + REQUEST_S + 1:
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                resp.read()
                first_sock = first_sock or conn.sock
                if resp.status == 200 and conn.sock is first_sock:
                    answers += 1
                time.sleep(1)
        except (OSError, http.client.HTTPException):
            pass
        conn.close()
        want = int(IDLE_S + REQUEST_S + 1)
        check(f"a keep-alive client asking every second for {want} s is never cut "
              f"({answers} answers on one connection)", answers >= want)
        check("the gateway is still up", gw.poll() is None and healthz(port) == 200)
    finally:
        gw.terminate()
        gw.wait(timeout=30)

    r = subprocess.run([os.path.join(BIN, "ingest-gw")], capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, KAFKA_BROKERS="127.0.0.1:1", HTTP_ADDR="127.0.0.1:0",
                                GW_AUTH="off", GW_ACK_TIMEOUT_MS="10000",
                                GW_REQUEST_TIMEOUT_S="10"))
    check("GW_REQUEST_TIMEOUT_S not above GW_ACK_TIMEOUT_MS fails at start naming it",
          r.returncode == 2 and "GW_REQUEST_TIMEOUT_S" in r.stderr
          and len(r.stderr.strip().splitlines()) == 1)
    shedding()
    api_guard()
    print(f"bounds: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
