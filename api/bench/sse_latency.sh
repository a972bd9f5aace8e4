#!/usr/bin/env bash
# Alarm-event latency benchmark: how long after a fix's commit does the alarm event it caused reach
# a staff member's live stream (GET /api/v1/events, server-sent events), while phones post
# LOAD fixes/s (default 5,000) to /ingest/v1/fixes? Goal: p99 ≤ 1 s.
#
# Starts its own cctrack serve (release) and embedded PostGIS on a private data directory, like
# tracker/bench/ingest.sh: DEVICES persons with a native phone each and an inclusion circle they
# stay well inside (their fixes never change an alarm), and one probe person whose circle's border
# the probe crosses on every fix. An office_staff account of their office logs in and follows the
# stream. wrk (api/bench/sse_load.lua) warms up the devices' tokens, then sends batches of BATCH
# fixes paced to LOAD fixes/s in all (wrk2 is not available: each connection waits between
# requests, the wait adjusted once a second towards the target); the rate reached is measured
# from the server's counter of accepted fixes while the probe runs, and printed.
#
# The probe (api/bench/sse_latency.py) posts one fix every INTERVAL_MS, alternately outside and
# inside its circle, 25 m from the border (accuracy 5 m, fix times 1 s apart: 50 m/s, a plausible
# speed), SAMPLES times: each fix writes exactly one history event in its own transaction
# (`opened`, then `returned_inside` and `left_again` in turn; tracker/src/ingest/rules.rs), which
# the stream reader matches to the fix by person and fix time.
#
# What is measured: latency = the event's arrival at the SSE client − the arrival of the fix's
# HTTP 200 at the probe (both on one monotonic clock in one process). A fix is committed before
# its reply is sent, so this is a LOWER BOUND of commit → event: it leaves out the reply's own
# transit from the server to the probe (and can be negative when the stream wins that race). The
# helper also prints an upper bound (event − the request being sent: adds the request's transit,
# its wait for a group commit and the commit itself) and the event's arrival − its `at` (the
# writing transaction's now(), same host clock). With COMMIT_TS=1 (default) the cluster runs with
# track_commit_timestamp on, and the helper also prints the event's arrival − its row's commit
# timestamp (same host clock): commit → event itself, give or take the commit's WAL flush (the
# stamp is taken just before it); recording commit times costs the database a little.
# Client, server, database and wrk share this machine's cores: the figures include their
# scheduling delays. The server runs without its scheduler (as in ingest.sh): its own events
# would only be noise on the stream.
#
# Run from anywhere; about 1½ minutes plus the build (defaults). LOAD=0: no background load.
# Knobs: LOAD BATCH CONNECTIONS THREADS DEVICES SAMPLES INTERVAL_MS WARMUP SETTLE COMMIT_TS, CCTRACK_BIN
# (a prebuilt cctrack; default: build this tree in release mode).
# Last line: sse_p50_ms=<N> sse_p99_ms=<N> events=<N> load_fixes_per_s=<N>
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup >/dev/null
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

LOAD=${LOAD:-5000}            # background fixes/s (0: none)
BATCH=${BATCH:-10}            # fixes per background request (phones flushing a small buffer)
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
DEVICES=${DEVICES:-200}
SAMPLES=${SAMPLES:-300}       # probe fixes, one event each
INTERVAL_MS=${INTERVAL_MS:-200}
WARMUP=${WARMUP:-8}           # s of unpaced load first: every device's token verified and cached
SETTLE=${SETTLE:-6}           # s of paced load before the probe starts: the pacing settles
COMMIT_TS=${COMMIT_TS:-1}     # 1: track_commit_timestamp on, to print commit -> event itself too
if [ -n "${CCTRACK_BIN:-}" ]; then
  bin=$CCTRACK_BIN
else
  cargo build --release -q -p api --bin cctrack
  bin=target/release/cctrack
fi
dir=$(mktemp -d /tmp/cctrack-sse-bench-XXXXXX)
chmod 755 "$dir"
log="$dir/server.log"
cleanup() {
  [ -n "${wrk_pid:-}" ] && kill -INT "$wrk_pid" 2>/dev/null && wait "$wrk_pid" 2>/dev/null || true
  [ -n "${server_pid:-}" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

echo "machine before the run: $(uptime)"
start_server() {
  CCTRACK_SCHEDULER_ENABLED=false RUST_LOG=warn "$bin" serve --data-dir "$dir" --listen 127.0.0.1:0 --osmand-listen 127.0.0.1:0 >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do grep -q '^cctrack listening on' "$log" && break; sleep 0.2; done
  addr=$(sed -n 's|^cctrack listening on http://\([^ ]*\).*|\1|p' "$log")
  [ -n "$addr" ] || { cat "$log"; exit 1; }
}
sql() { PGPASSWORD=$(cat "$dir/pg.password") psql -qAt -h 127.0.0.1 -p "$(cat "$dir/pg.port")" -U postgres -d cctrack -c "$1"; }
start_server
if [ "$COMMIT_TS" = 1 ]; then
  # PostgreSQL records each transaction's commit time only with this on (read at its start):
  # stopping cctrack stops the cluster it started; the second start starts it with the setting.
  sql "ALTER SYSTEM SET track_commit_timestamp = on"
  kill -TERM "$server_pid" && wait "$server_pid" || true
  start_server
  [ "$(sql "SHOW track_commit_timestamp")" = on ] || { echo "track_commit_timestamp is not on" >&2; exit 1; }
fi

office=$(sql "WITH c AS (INSERT INTO organisations (kind, name, adcode) VALUES ('city', '营口市', '210800') RETURNING id),
                  k AS (INSERT INTO organisations (kind, parent_id, name, adcode) SELECT 'county', id, '站前区', '210802' FROM c RETURNING id)
              INSERT INTO organisations (kind, parent_id, name) SELECT 'office', id, '跃进司法所' FROM k RETURNING id")
probe_person=$(sql "INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level)
                    VALUES ($office, 'probe', 'probation', '2026-01-01', '2030-01-01', 'ordinary') RETURNING id")
sql "INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level)
     SELECT $office, 'bench' || i, 'probation', '2026-01-01', '2030-01-01', 'ordinary' FROM generate_series(0, $DEVICES - 1) i"
sql "INSERT INTO legal_bases (person_id, kind, starts_at, document_ref) SELECT id, 'consent', now() - interval '9 days', 'bench' FROM persons"
# The probe's phone is a real enrolment (dated back a week, so that its fixes may be from the past);
# the load's devices share its token hash under their own enrolment ids, as in ingest.sh.
probe_json=$("$bin" device enrol --data-dir "$dir" --person "$probe_person" --protocol native --json)
read -r probe_enrolment token < <(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["enrolment_id"], d["token"])' <<<"$probe_json")
sql "UPDATE devices SET enrolled_at = now() - interval '8 days' WHERE person_id = $probe_person"
sql "INSERT INTO devices (person_id, protocol, enrolment_id, token_hash, enrolled_at)
     SELECT p.id, 'native', 'bench' || lpad((row_number() OVER (ORDER BY p.id) - 1)::text, 5, '0'),
            (SELECT token_hash FROM devices LIMIT 1), now() - interval '8 days'
     FROM persons p WHERE p.id <> $probe_person"
# Every load device walks at most 0.02° north of its start (sse_load.lua): a 3 km circle around
# the middle of its walk holds all of it.
sql "INSERT INTO fences (person_id, organisation_id, name, kind, shape, geom, radius_m)
     SELECT d.person_id, $office, 'home', 'inclusion', 'circle',
            ST_SetSRID(ST_MakePoint(122.20 + floor(n.dev / 50) * 0.001, 40.60 + (n.dev % 50) * 0.001 + 0.01), 4326), 3000
     FROM devices d JOIN (SELECT id, row_number() OVER (ORDER BY enrolment_id) - 1 AS dev FROM devices
                          WHERE enrolment_id LIKE 'bench%') n ON n.id = d.id" >/dev/null
# The probe's circle: 1 km around (122.30, 40.60); its fixes are 975 m and 1025 m north of the
# centre (0.009° of latitude ≈ 1000.75 m), as in ingest.sh's STORM.
sql "INSERT INTO fences (person_id, organisation_id, name, kind, shape, geom, radius_m)
     VALUES ($probe_person, $office, 'probe', 'inclusion', 'circle', ST_SetSRID(ST_MakePoint(122.30, 40.60), 4326), 1000)" >/dev/null
password=$("$bin" staff add --data-dir "$dir" --org "$office" --username sse.bench --name 'SSE bench' --role office_staff --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')

base=$(( $(date +%s) - 7 * 86400 + 3600 ))
load() { # rate duration run -> wrk in the background, output in $dir/wrk-<run>.txt
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$2" --latency -s api/bench/sse_load.lua "http://$addr" -- \
    "$DEVICES" bench "$token" "$BATCH" $((base + ($3 - 1) * 2 * 86400)) "$3" "$THREADS" "$1" "$CONNECTIONS" >"$dir/wrk-$3.txt" 2>&1 &
  wrk_pid=$!
}
rounds=$(awk -v s="$SAMPLES" -v i="$INTERVAL_MS" 'BEGIN { printf "%d", s * i / 1000 }')
if [ "$LOAD" != 0 ]; then
  echo "warm-up: ${WARMUP} s unpaced, $DEVICES devices, batches of $BATCH, $CONNECTIONS connections"
  load 0 "${WARMUP}s" 1
  wait "$wrk_pid"
  sed -n 's/^Requests\/sec: *\([0-9.]*\)/  warm-up requests\/s: \1/p' "$dir/wrk-1.txt"
  echo "load: $LOAD fixes/s in batches of $BATCH on $CONNECTIONS connections; probe after ${SETTLE} s"
  # longer than the probe needs; stopped (SIGINT: wrk prints its summary) when the probe is done
  load "$LOAD" "$((SETTLE + rounds * 3 + 60))s" 2
  sleep "$SETTLE"
else
  echo "no background load"
fi
echo "probe: $SAMPLES fixes, one every $INTERVAL_MS ms"
status=0
python3 api/bench/sse_latency.py --url "http://$addr" --username sse.bench --password "$password" \
  --device-token "$probe_enrolment.$token" --person "$probe_person" \
  --inside 40.608775,122.30 --outside 40.609225,122.30 --base $(( $(date +%s) - 86400 )) \
  --samples "$SAMPLES" --interval-ms "$INTERVAL_MS" \
  $( [ "$COMMIT_TS" = 1 ] && echo "--pg-port $(cat "$dir/pg.port") --pg-password-file $dir/pg.password" ) >"$dir/probe.txt" || status=$?
if [ -n "${wrk_pid:-}" ]; then
  kill -INT "$wrk_pid" 2>/dev/null || true
  wait "$wrk_pid" 2>/dev/null || true
  wrk_pid=
  echo "wrk (paced load, whole run):"
  grep -E '^ +(Latency|Req/Sec) |^ +(50|99)%|requests in|Requests/sec|Non-2xx|Socket errors' "$dir/wrk-2.txt" | sed 's/^/  /'
fi
echo "alarm events written: $(sql "SELECT count(*) FROM alarm_events"), probe fixes stored: $(sql "SELECT count(*) FROM fixes WHERE person_id = $probe_person")"
echo "server resident memory: $(( $(ps -o rss= -p "$server_pid") / 1024 )) MiB; machine after the run: $(uptime)"
cat "$dir/probe.txt"
exit "$status"
