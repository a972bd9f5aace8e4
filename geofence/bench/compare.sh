#!/usr/bin/env bash
# Geofence vs its peers on the ../shared/peers workload (100 k persons, 200 k personal fences,
# 10 k shared exclusion zones, 1 M fixes), one thread.
#
# usage: geofence/bench/compare.sh        (from anywhere; works from the project root)
# env:   PEERS_DATA   data directory (default /tmp/peers-data; generated if missing)
#        PEERS_DIR    peers directory (default ../shared/peers)
# Last line:
#   fixes_per_s=<N> with_distance_per_s=<N> vs_postgis_per_fix=<R> vs_postgis_set=<R> vs_shapely=<R>
# (ratios of our verdict-only fixes/s to each peer; n/a when the peers cannot be run).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${PEERS_DATA:-/tmp/peers-data}
PEERS=${PEERS_DIR:-../shared/peers}   # overridable only to test the skip path

if [ ! -f "$DATA/meta.json" ]; then
    if [ -f "$PEERS/gen_data.py" ]; then
        echo "generating the workload in $DATA (needs numpy)..." >&2
        python3 -c 'import numpy' 2>/dev/null || pip install -q numpy >&2
        python3 "$PEERS/gen_data.py" --out "$DATA" >&2
    else
        echo "no workload in $DATA and no generator ($PEERS absent): nothing to measure" >&2
        echo "fixes_per_s=n/a with_distance_per_s=n/a vs_postgis_per_fix=n/a vs_postgis_set=n/a vs_shapely=n/a"
        exit 0
    fi
fi

echo "== geofence (this crate), one thread ==" >&2
cargo build --release -p geofence --example peers_workload >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo run --quiet --release -p geofence --example peers_workload -- "$DATA" >"$log"
cat "$log" >&2
ours=$(tail -n 1 "$log")
fps=$(sed -n 's/.*fixes_per_s=\([0-9]*\).*/\1/p' <<<"$ours")
wd=$(sed -n 's/.*with_distance_per_s=\([0-9]*\).*/\1/p' <<<"$ours")
if [ -z "$fps" ] || [ -z "$wd" ]; then
    echo "could not read our figures from: $ours" >&2
    exit 1
fi

ratio() { # ours / peer, one decimal; n/a if the peer figure is missing or zero
    awk -v a="$1" -v b="${2:-}" 'BEGIN { if (b == "" || b + 0 == 0) print "n/a"; else printf "%.1f\n", a / b }'
}
r_pf=n/a r_set=n/a r_sh=n/a
if [ -x "$PEERS/run_peers.sh" ] || [ -f "$PEERS/run_peers.sh" ]; then
    echo "== peers (../shared/peers/run_peers.sh: shapely 2, PostGIS) ==" >&2
    if PEERS_DATA="$DATA" bash "$PEERS/run_peers.sh" >"$log"; then
        cat "$log" >&2
        peers=$(tail -n 1 "$log")
        get() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$peers"; }
        r_pf=$(ratio "$fps" "$(get peer_postgis_per_fix)")
        r_set=$(ratio "$fps" "$(get peer_postgis_set)")
        r_sh=$(ratio "$fps" "$(get peer_shapely)")
    else
        echo "run_peers.sh failed: ratios not available" >&2
    fi
else
    echo "$PEERS absent: skipping the peers (ratios n/a)" >&2
fi
echo "fixes_per_s=$fps with_distance_per_s=$wd vs_postgis_per_fix=$r_pf vs_postgis_set=$r_set vs_shapely=$r_sh"
