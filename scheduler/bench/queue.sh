#!/usr/bin/env bash
# Scheduler scale benchmark: a database of PERSONS persons (default 1,000,000) whose next due
# times are spread over the next 12 hours, each with a legal basis. It measures
#  - the cost of a tick per due item: DUE persons made due at once, then one `cctrack scheduler
#    tick`, which issues their requests (the tick finds them by the index on next_due_at: O(due));
#  - the same tick on a tenth of the persons, to show the cost does not grow with the persons;
#  - the resident memory of a `cctrack serve` running the scheduler over the whole database for
#    SERVE_SECONDS (its ticks issue the requests falling due meanwhile).
# Last line: persons=<N> rss_mb=<N> tick_us_per_due=<N>
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup >/dev/null

PERSONS=${PERSONS:-1000000}
DUE=${DUE:-20000}
SERVE_SECONDS=${SERVE_SECONDS:-30}
if [ -n "${CCTRACK_BIN:-}" ]; then
  bin=$CCTRACK_BIN
else
  cargo build --release -q -p api --bin cctrack
  bin=target/release/cctrack
fi
dir=$(mktemp -d /tmp/cctrack-queue-XXXXXX)
chmod 755 "$dir"
log="$dir/server.log"
cleanup() {
  [ -n "${server_pid:-}" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

start_server() { # scheduler on|off
  CCTRACK_SCHEDULER_ENABLED=$1 RUST_LOG=warn "$bin" serve --data-dir "$dir" --listen 127.0.0.1:0 --osmand-listen 127.0.0.1:0 >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do grep -q '^cctrack listening on' "$log" && return 0; sleep 0.2; done
  cat "$log"; exit 1
}
stop_server() { kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=; }
sql() { PGPASSWORD=$(cat "$dir/pg.password") psql -qAt -h 127.0.0.1 -p "$(cat "$dir/pg.port")" -U postgres -d cctrack -c "$1"; }

start_server false
echo "creating $PERSONS persons with a legal basis, due over the next 12 hours..."
office=$(sql "WITH c AS (INSERT INTO organisations (kind, name, adcode) VALUES ('city', '营口市', '210800') RETURNING id),
                  k AS (INSERT INTO organisations (kind, parent_id, name, adcode) SELECT 'county', id, '站前区', '210802' FROM c RETURNING id)
              INSERT INTO organisations (kind, parent_id, name) SELECT 'office', id, '跃进司法所' FROM k RETURNING id")
sql "INSERT INTO persons (office_id, name, correction_type, term_start, term_end, level, next_due_at)
     SELECT $office, 'p' || i, 'probation', '2026-01-01', '2030-01-01',
            (ARRAY['lenient', 'ordinary', 'strict'])[1 + i % 3], now() + (i % 43200) * interval '1 second'
     FROM generate_series(1, $PERSONS) i"
sql "INSERT INTO legal_bases (person_id, kind, starts_at, document_ref) SELECT id, 'consent', now() - interval '1 day', 'bench' FROM persons"
sql "VACUUM ANALYZE persons"; sql "VACUUM ANALYZE legal_bases"

tick() { # -> tick_ms issued
  "$bin" --data-dir "$dir" scheduler tick --json 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["tick_ms"], r["issued"])'
}
make_due() { # how many, among persons with id <= limit
  sql "UPDATE persons SET next_due_at = now() - interval '1 second'
       WHERE id IN (SELECT id FROM persons WHERE id <= $2 ORDER BY id DESC LIMIT $1)" >/dev/null
  sql "VACUUM ANALYZE persons" >/dev/null
}
make_due "$DUE" "$PERSONS"
read -r ms_all issued_all < <(tick)
# The same number due among a tenth of the persons (the others pushed beyond the window).
sql "UPDATE persons SET next_due_at = now() + interval '1 day' WHERE id > $PERSONS / 10" >/dev/null
make_due "$DUE" $((PERSONS / 10))
read -r ms_tenth issued_tenth < <(tick)
sql "UPDATE persons SET next_due_at = now() + (id % 43200) * interval '1 second'" >/dev/null
sql "VACUUM ANALYZE persons" >/dev/null
stop_server

echo "serving with the scheduler for ${SERVE_SECONDS}s over $PERSONS persons..."
start_server true
peak=0
for _ in $(seq 1 "$SERVE_SECONDS"); do
  sleep 1
  rss=$(( $(ps -o rss= -p "$server_pid") / 1024 ))
  [ "$rss" -gt "$peak" ] && peak=$rss
done
issued_live=$(sql "SELECT count(*) FROM location_requests WHERE reason = 'schedule'")
status=$("$bin" --data-dir "$dir" scheduler status --json)
stop_server

per_due=$(python3 -c "print(round(1000 * $ms_all / max($issued_all, 1)))")
per_due_tenth=$(python3 -c "print(round(1000 * $ms_tenth / max($issued_tenth, 1)))")
echo "tick over $PERSONS persons: $issued_all due in ${ms_all} ms"
echo "tick over $((PERSONS / 10)) persons: $issued_tenth due in ${ms_tenth} ms (${per_due_tenth} µs per due)"
echo "serving: requests issued in ${SERVE_SECONDS}s (schedule, incl. the ticks above): $issued_live; status: $(echo "$status" | tr -d '\n ')"
echo "persons=$PERSONS rss_mb=$peak tick_us_per_due=$per_due"
