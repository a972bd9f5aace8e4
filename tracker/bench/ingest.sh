#!/usr/bin/env bash
# Ingest load benchmark: starts its own cctrack (release) and embedded PostGIS, enrols devices,
# drives POST /ingest/v1/fixes with wrk (single-fix requests, then batches of 100; every fix
# committed before its reply), then compares what was acknowledged with what is in the
# database. Then, on the same cluster and schema, pgbench inserts the same rows the naive way (one
# fix per transaction at the same concurrency, then 100 per transaction), so that the figures
# carry between machines as ratios. Run from anywhere; takes about 3 minutes plus the build.
# Last line: single_fixes_per_s=<N> p99_ms=<N> batch_fixes_per_s=<N> lost=<N> duplicated=<N>
#            pg_single_per_s=<N> pg_batch_per_s=<N> vs_pg_single=<cctrack ÷ pgbench> vs_pg_batch=<…>
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup >/dev/null
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

DEVICES=${DEVICES:-200}
DURATION=${DURATION:-20s}
# Requests in flight: phones sending single fixes, and phones flushing a buffer of 100. A group
# commit takes every waiting request, so throughput grows with concurrency while latency stays
# bounded; BENCHMARKS.md gives the curve (64 → 256 connections) beside the default.
CONNECTIONS=${CONNECTIONS:-128}
BATCH_CONNECTIONS=${BATCH_CONNECTIONS:-64}
THREADS=${THREADS:-2}
# STORM=1: every device has a fence whose border it crosses on every fix (see ingest.lua), so
# every fix writes to its alarm and its history: what the alarm feed costs ingest at worst.
STORM=${STORM:-0}
# CCTRACK_BIN: a prebuilt cctrack to measure (to compare two builds); default: build this tree.
if [ -n "${CCTRACK_BIN:-}" ]; then
  bin=$CCTRACK_BIN
else
  cargo build --release -q -p api --bin cctrack
  bin=target/release/cctrack
fi
dir=$(mktemp -d /tmp/cctrack-bench-XXXXXX)
chmod 755 "$dir"
log="$dir/server.log"
cleanup() {
  [ -n "${server_pid:-}" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# Without the scheduler: its requests would only add to the replies, and older builds have none.
CCTRACK_SCHEDULER_ENABLED=false RUST_LOG=warn "$bin" serve --data-dir "$dir" --listen 127.0.0.1:0 --osmand-listen 127.0.0.1:0 >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do grep -q '^cctrack listening on' "$log" && break; sleep 0.2; done
addr=$(sed -n 's|^cctrack listening on http://\([^ ]*\).*|\1|p' "$log")
[ -n "$addr" ] || { cat "$log"; exit 1; }
sql() { PGPASSWORD=$(cat "$dir/pg.password") psql -qAt -h 127.0.0.1 -p "$(cat "$dir/pg.port")" -U postgres -d cctrack -c "$1"; }

# One real enrolment gives a token and its argon2id hash; the other devices share that hash
# under their own enrolment ids (the token is verified once per device, then cached).
office=$(sql "WITH c AS (INSERT INTO organisations (kind, name, adcode) VALUES ('city', '营口市', '210800') RETURNING id),
                  k AS (INSERT INTO organisations (kind, parent_id, name, adcode) SELECT 'county', id, '站前区', '210802' FROM c RETURNING id)
              INSERT INTO organisations (kind, parent_id, name) SELECT 'office', id, '跃进司法所' FROM k RETURNING id")
sql "INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level)
     SELECT $office, 'bench' || i, 'probation', '2026-01-01', '2030-01-01', 'ordinary' FROM generate_series(0, $DEVICES - 1) i"
sql "INSERT INTO legal_bases (person_id, kind, starts_at, document_ref) SELECT id, 'consent', now() - interval '9 days', 'bench' FROM persons"
first=$(sql "SELECT min(id) FROM persons")
token=$("$bin" device enrol --data-dir "$dir" --person "$first" --protocol native --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
sql "INSERT INTO devices (person_id, protocol, enrolment_id, token_hash, enrolled_at)
     SELECT p.id, 'native', 'bench' || lpad((row_number() OVER (ORDER BY p.id) - 1)::text, 5, '0'),
            (SELECT token_hash FROM devices LIMIT 1), now() - interval '8 days'
     FROM persons p"
if [ "$STORM" = 1 ]; then
  # A 1 km circle whose northern border runs through the device's track (0.009° ≈ 1 km).
  sql "INSERT INTO fences (person_id, organisation_id, name, kind, shape, geom, radius_m)
       SELECT d.person_id, $office, 'bench', 'inclusion', 'circle',
              ST_SetSRID(ST_MakePoint(122.20 + floor(n.dev / 50) * 0.001, 40.60 + (n.dev % 50) * 0.001 - 0.009), 4326), 1000
       FROM devices d JOIN (SELECT id, row_number() OVER (ORDER BY enrolment_id) - 1 AS dev FROM devices
                            WHERE enrolment_id LIKE 'bench%') n ON n.id = d.id"
fi
# Each run sends fixes one second apart from its own base, two days apart, within the week since
# the devices' enrolment: no run reaches another's times nor the present, even at 100 k fixes/s
# for several minutes.
base=$(( $(date +%s) - 7 * 86400 + 3600 ))

run() { # batch duration connections base run -> prints wrk output
  wrk -t "$THREADS" -c "$3" -d "$2" --latency -s tracker/bench/ingest.lua "http://$addr" -- "$DEVICES" bench "$token" "$1" "$4" "$5" "$THREADS" "$STORM"
}
ok_requests() { # wrk output -> 2xx count
  local total non2xx
  total=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$1")
  non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$1")
  echo $(( total - ${non2xx:-0} ))
}

echo "warm-up (token cache, connections)..."
warm=$(run 1 10s "$CONNECTIONS" "$base" 1)
echo "single-fix requests: $DURATION, $CONNECTIONS connections, $DEVICES devices"
single=$(run 1 "$DURATION" "$CONNECTIONS" $((base + 2 * 86400)) 2)
echo "$single"
echo "batches of 100: $DURATION, $BATCH_CONNECTIONS connections"
batch=$(run 100 "$DURATION" "$BATCH_CONNECTIONS" $((base + 4 * 86400)) 3)
echo "$batch"

secs=${DURATION%s}
single_ok=$(ok_requests "$single")
batch_ok=$(ok_requests "$batch")
acknowledged=$(( $(ok_requests "$warm") + single_ok + batch_ok * 100 ))
stored=$(sql "SELECT count(*) FROM fixes")
# count(DISTINCT) sorts; a DISTINCT subquery was planned as a hash aggregate from stale statistics
# and once ran for minutes.
distinct=$(sql "SELECT count(DISTINCT (device_id, device_seq)) FROM fixes")
lost=$(( acknowledged > stored ? acknowledged - stored : 0 ))
duplicated=$(( stored - distinct ))
p99=$(sed -n 's/^ *99% *\([0-9.]*\)\(ms\|s\|us\).*/\1 \2/p' <<<"$single" | awk '{ if ($2=="s") print $1*1000; else if ($2=="us") print $1/1000; else print $1 }')
echo "server resident memory: $(( $(ps -o rss= -p "$server_pid") / 1024 )) MiB"
echo "acknowledged=$acknowledged stored=$stored (in-flight requests cut off at the end may be stored unacknowledged)"
events=$(sql "SELECT CASE WHEN to_regclass('alarm_feed') IS NULL THEN 0 ELSE (SELECT count(*) FROM alarm_events) END")
echo "alarms=$(sql "SELECT count(*) FROM alarms") evidence=$(sql "SELECT count(*) FROM alarm_evidence") history_events=$events"

# The baseline: the same rows (device, person, time, position, accuracy, sequence number, an
# empty verdict list) inserted by pgbench the naive way, one INSERT … ON CONFLICT DO NOTHING per
# fix: each in its own transaction, then 100 to a transaction. The
# bench devices' ids run in step with their persons' (one INSERT made both, in order).
offset=$(sql "SELECT min(d.id) - min(d.person_id) FROM devices d WHERE d.enrolment_id LIKE 'bench%'")
first_person=$(sql "SELECT min(person_id) FROM devices WHERE enrolment_id LIKE 'bench%'")
sql "CREATE SEQUENCE IF NOT EXISTS bench_pg_seq"
cat >"$dir/pg_single.sql" <<SQL
\set i random(0, $DEVICES - 1)
INSERT INTO fixes (person_id, device_id, fixed_at, position, accuracy_m, source, device_seq, verdicts)
VALUES ($first_person + :i, $first_person + :i + $offset, to_timestamp($((base - 3 * 86400))) + nextval('bench_pg_seq') * interval '1 ms',
        ST_SetSRID(ST_MakePoint(122.2 + :i * 0.0001, 40.6), 4326), 15, 'gps', currval('bench_pg_seq'), '[]')
ON CONFLICT DO NOTHING;
SQL
# 100 fixes per transaction, one INSERT each: what an application writing row by row does with a
# phone's buffer of 100 fixes.
{
  echo "\\set i random(0, $DEVICES - 1)"
  echo "BEGIN;"
  for _ in $(seq 1 100); do sed -n '2,5p' "$dir/pg_single.sql"; done
  echo "COMMIT;"
} >"$dir/pg_batch.sql"
pgb() { # script connections -> transactions per second
  PGPASSWORD=$(cat "$dir/pg.password") pgbench -n -M prepared -h 127.0.0.1 -p "$(cat "$dir/pg.port")" -U postgres \
    -c "$2" -j "$THREADS" -T "$secs" -f "$1" cctrack 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1
}
echo "pgbench baseline: one fix per transaction ($CONNECTIONS connections), then 100 per transaction ($BATCH_CONNECTIONS)"
pg_single=$(pgb "$dir/pg_single.sql" "$CONNECTIONS")
pg_batch=$(pgb "$dir/pg_batch.sql" "$BATCH_CONNECTIONS")
single_rate=$(( single_ok / secs ))
batch_rate=$(( batch_ok * 100 / secs ))
ratios=$(awk -v s="$single_rate" -v b="$batch_rate" -v ps="$pg_single" -v pb="$pg_batch" \
  'BEGIN { printf "pg_single_per_s=%d pg_batch_per_s=%d vs_pg_single=%.2f vs_pg_batch=%.2f", ps, pb * 100, s / ps, b / (pb * 100) }')
echo "single_fixes_per_s=$single_rate p99_ms=$p99 batch_fixes_per_s=$batch_rate lost=$lost duplicated=$duplicated $ratios"
