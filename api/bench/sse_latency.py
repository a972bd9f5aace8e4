#!/usr/bin/env python3
"""Probe and SSE reader of api/bench/sse_latency.sh (Python 3 standard library only).

Logs in as a staff account, opens GET /api/v1/events, then posts one fix every --interval-ms for
the probe device, alternately outside and inside its person's inclusion circle, each fix one
second (of fix time) after the previous one. Each crossing changes the person's fence-exit alarm
and writes exactly one history event in the fix's own transaction (tracker/src/ingest/rules.rs):
`opened` for the first fix (outside), then `returned_inside` and `left_again` in turn. An event
is matched to its fix by person and `fixed_at` (every probe fix has its own time).

For each fix, on one monotonic clock in this process:
  sent   just before the request is written,
  reply  when the reply's status line and headers have been read (the fix is committed first),
  event  when the bytes ending the matching SSE event came out of recv().
The figure reported is event - reply: a lower bound of commit -> event (the commit happens
before the reply leaves the server; the reply's transit and this process's wake-up are not
counted). event - sent is an upper bound (it adds the request's transit, queueing and the
commit itself). Both are printed; so is event - the event's `at` (the server's now() in the
writing transaction, on the same host clock), another upper bound. With --pg-port (and
PostgreSQL's track_commit_timestamp on), also event - the commit timestamp of the event's row
(pg_xact_commit_timestamp, wall clock of the same host): commit -> event itself, to within the
commit's own WAL flush (the timestamp is taken just before it).

Fixes whose event does not come within --wait-s after the last post count as --wait-s in the
percentiles (a floor on their latency) and are reported. Output ends with the line
    sse_p50_ms=<N> sse_p99_ms=<N> events=<N> load_fixes_per_s=<N>
where events is the number of probe fixes whose event arrived, and load_fixes_per_s the native
fixes accepted per second by the server while the probe ran, the probe's own excluded (from
GET /metrics).
"""

import argparse
import datetime as dt
import http.client
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse


def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return float("nan")
    k = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[k]


def parse_time(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


class SseReader(threading.Thread):
    """GET /api/v1/events over a raw socket (HTTP/1.1, chunked): every event with the monotonic
    and wall time of the recv() that completed it."""

    def __init__(self, host, port, token):
        super().__init__(daemon=True)
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req = (
            f"GET /api/v1/events HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        )
        self.sock.sendall(req.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("events: connection closed before the headers")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].split(" ")[1:2] == ["200"]:
            raise RuntimeError(f"events: {lines[0]}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        if "text/event-stream" not in headers.get("content-type", ""):
            raise RuntimeError(f"events: content-type {headers.get('content-type')!r}")
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self.raw = bytearray(rest)  # still chunk-encoded
        self.text = bytearray()  # decoded stream, not yet parsed into events
        self.fields = {}
        self.events = []  # (mono, wall, data dict)
        self.lock = threading.Lock()
        self.closed = False
        self.error = None
        self.sock.settimeout(None)

    def _dechunk(self):
        if not self.chunked:
            self.text += self.raw
            self.raw.clear()
            return
        while True:
            nl = self.raw.find(b"\r\n")
            if nl < 0:
                return
            size = int(bytes(self.raw[:nl]).split(b";")[0], 16)
            if size == 0:
                self.closed = True
                return
            if len(self.raw) < nl + 2 + size + 2:
                return
            self.text += self.raw[nl + 2 : nl + 2 + size]
            del self.raw[: nl + 2 + size + 2]

    def _parse(self, mono, wall):
        while True:
            nl = self.text.find(b"\n")
            if nl < 0:
                return
            line = bytes(self.text[:nl]).rstrip(b"\r").decode("utf-8")
            del self.text[: nl + 1]
            if line == "":
                if "data" in self.fields:
                    try:
                        data = json.loads(self.fields["data"])
                    except ValueError:
                        data = {"raw": self.fields["data"]}
                    with self.lock:
                        self.events.append((mono, wall, self.fields.get("event"), data))
                self.fields = {}
            elif line.startswith(":"):
                continue  # keep-alive comment
            else:
                k, _, v = line.partition(":")
                v = v[1:] if v.startswith(" ") else v
                self.fields[k] = self.fields[k] + "\n" + v if k == "data" and k in self.fields else v

    def run(self):
        try:
            self._dechunk()
            self._parse(time.monotonic(), time.time())
            while not self.closed:
                chunk = self.sock.recv(65536)
                mono, wall = time.monotonic(), time.time()
                if not chunk:
                    self.closed = True
                    break
                self.raw += chunk
                self._dechunk()
                self._parse(mono, wall)
        except OSError as e:
            self.error = e
            self.closed = True


def accepted_native(host, port):
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    for line in body.splitlines():
        if line.startswith('cctrack_fixes_accepted_total{protocol="native"}'):
            return int(float(line.split()[-1]))
    raise RuntimeError("metrics: no cctrack_fixes_accepted_total for native")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="http://HOST:PORT of cctrack")
    ap.add_argument("--username", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--device-token", required=True, help="the probe device's ENROLMENT.TOKEN")
    ap.add_argument("--person", type=int, required=True, help="the probe person's id")
    ap.add_argument("--inside", required=True, help="LAT,LON of the probe's position inside its fence")
    ap.add_argument("--outside", required=True, help="LAT,LON outside")
    ap.add_argument("--base", type=int, required=True, help="epoch seconds of the first probe fix")
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--interval-ms", type=float, default=200)
    ap.add_argument("--wait-s", type=float, default=10, help="how long to wait for the last events")
    ap.add_argument("--pg-port", type=int, help="the database's port, for the events' commit timestamps")
    ap.add_argument("--pg-password-file")
    a = ap.parse_args()

    u = urllib.parse.urlsplit(a.url)
    host, port = u.hostname, u.port or 80
    inside = [float(x) for x in a.inside.split(",")]
    outside = [float(x) for x in a.outside.split(",")]

    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request("POST", "/api/v1/auth/login", json.dumps({"username": a.username, "password": a.password}),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit(f"login: {r.status} {body[:300]!r}")
    token = json.loads(body)["token"]
    c.close()

    reader = SseReader(host, port, token)
    reader.start()

    probe = http.client.HTTPConnection(host, port, timeout=30)
    probe.connect()
    probe.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    headers = {"Authorization": f"Bearer {a.device_token}", "Content-Type": "application/json"}

    sent = {}  # fix time (epoch s) -> (sent, reply, kind expected)
    rtts = []
    failures = 0
    accepted0, t0 = accepted_native(host, port), time.monotonic()
    start = time.monotonic()
    for i in range(a.samples):
        due = start + i * a.interval_ms / 1000
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        lat, lon = outside if i % 2 == 0 else inside
        fix_time = a.base + i
        stamp = dt.datetime.fromtimestamp(fix_time, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = json.dumps({"crs": "wgs84", "fixes": [
            {"seq": i + 1, "time": stamp, "lat": lat, "lon": lon, "accuracy_m": 5}]})
        for attempt in range(3):
            try:
                t_sent = time.monotonic()
                probe.request("POST", "/ingest/v1/fixes", body, headers)
                r = probe.getresponse()
                t_reply = time.monotonic()
                reply = r.read()
                break
            except (OSError, http.client.HTTPException):
                probe.close()
                probe = http.client.HTTPConnection(host, port, timeout=30)
                if attempt == 2:
                    raise
        if r.status != 200 or json.loads(reply).get("accepted") != 1:
            failures += 1
            print(f"probe fix {i}: {r.status} {reply[:300]!r}", file=sys.stderr)
            continue
        rtts.append((t_reply - t_sent) * 1000)
        sent[fix_time] = (t_sent, t_reply)
    accepted1, t1 = accepted_native(host, port), time.monotonic()
    probe.close()

    deadline = time.monotonic() + a.wait_s
    while time.monotonic() < deadline and not reader.closed:
        with reader.lock:
            got = {parse_time(d["fixed_at"]) for _, _, _, d in reader.events
                   if d.get("person_id") == a.person and d.get("fixed_at")}
        if all(t in got for t in sent):
            break
        time.sleep(0.05)

    with reader.lock:
        events = list(reader.events)
    matched = {}
    kinds = {}
    for mono, wall, _, d in events:
        if d.get("person_id") != a.person or not d.get("fixed_at"):
            continue
        t = parse_time(d["fixed_at"])
        if t in sent and t not in matched:
            matched[t] = (mono, wall, d)
            kinds[d.get("kind")] = kinds.get(d.get("kind"), 0) + 1
    others = len(events) - len(matched)

    lower, upper, server = [], [], []
    for t, (t_sent, t_reply) in sent.items():
        if t in matched:
            mono, wall, d = matched[t]
            lower.append((mono - t_reply) * 1000)
            upper.append((mono - t_sent) * 1000)
            server.append((wall - parse_time(d["at"])) * 1000)
    committed = []
    if a.pg_port:
        env = dict(os.environ)
        if a.pg_password_file:
            env["PGPASSWORD"] = open(a.pg_password_file).read().strip()
        q = ("SELECT extract(epoch FROM fixed_at), extract(epoch FROM pg_xact_commit_timestamp(xmin)) "
             f"FROM alarm_events WHERE person_id = {a.person} AND fixed_at IS NOT NULL")
        out = subprocess.run(["psql", "-qAt", "-F", ",", "-h", "127.0.0.1", "-p", str(a.pg_port), "-U", "postgres",
                              "-d", "cctrack", "-c", q], env=env, capture_output=True, text=True)
        if out.returncode == 0:
            commit_at = {}
            for line in out.stdout.splitlines():
                f, _, c = line.partition(",")
                if c:
                    commit_at.setdefault(float(f), float(c))
            for t, (mono, wall, d) in matched.items():
                if t in commit_at:
                    committed.append((wall - commit_at[t]) * 1000)
        else:
            print(f"commit timestamps unavailable: {out.stderr.strip()[:200]}", file=sys.stderr)
    committed.sort()
    missing = len(sent) - len(matched)
    floor_ms = a.wait_s * 1000
    lower_all = sorted(lower + [floor_ms] * missing)
    upper_all = sorted(upper + [floor_ms] * missing)
    server = sorted(server)
    rtts.sort()

    load = (accepted1 - accepted0 - len(sent)) / (t1 - t0)

    def row(name, xs):
        if not xs:
            return f"{name}: no samples"
        return (f"{name}: p50={percentile(xs, 50):.1f} p90={percentile(xs, 90):.1f} p99={percentile(xs, 99):.1f} "
                f"max={xs[-1]:.1f} min={xs[0]:.1f} ms")

    print(f"probe: {len(sent)} fixes committed ({failures} refused) in {t1 - t0:.1f} s; "
          f"events matched={len(matched)} missing={missing} other events on the stream={others}; "
          f"kinds={json.dumps(kinds, sort_keys=True)}")
    if reader.error:
        print(f"events: stream error: {reader.error}")
    print(row("probe request round trip (sent -> reply)", rtts))
    print(row("commit -> event, lower bound (reply -> event)", lower_all))
    print(row("commit -> event, upper bound (sent -> event)", upper_all))
    print(row("server's transaction now() -> event (wall clock)", server))
    if committed:
        print(row(f"commit timestamp -> event (wall clock; {len(committed)} events)", committed))
    negative = sum(1 for x in lower if x < 0)
    if negative:
        print(f"{negative} events arrived before their fix's reply (the reply and the event race after the commit)")
    if missing:
        print(f"WARNING: {missing} probe fixes had no event within {a.wait_s:g} s: counted as {floor_ms:.0f} ms")
    print(f"sse_p50_ms={percentile(lower_all, 50):.1f} sse_p99_ms={percentile(lower_all, 99):.1f} "
          f"events={len(matched)} load_fixes_per_s={load:.0f}")
    return 0 if not missing and not failures else 2


if __name__ == "__main__":
    sys.exit(main())
