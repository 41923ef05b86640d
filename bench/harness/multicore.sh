#!/usr/bin/env bash
# The multi-core preset of issue #23 (goal 3) for ../shared/harness/run.sh,
# unchanged: the same workloads once with one core per proxy (the harness's
# default layout: proxy pinned to CPU 1, wrk and origin on CPU 0) and once
# with two (PROXY_CPUS=0,1: nginx worker_processes 2, HAProxy nbthread 2,
# Caddy and spillway GOMAXPROCS=2; on a 2-core machine wrk and the origin
# share those cores), then a table of req/s, CPU µs per request and each
# proxy's scaling from 1 to 2 cores (req/s at 2 / req/s at 1). Usage:
#
#   (cd /path/to/spillway && go build -o /tmp/spillway ./cmd/spillway)
#   HARNESS=/work/shared/harness bench/harness/multicore.sh /tmp/spillway
#
# Knobs: HARNESS (the harness directory), SIZES (default "1024:64 65536:64"),
# QUICK, RESULTS_DIR and the ports, passed on to run.sh. The table is printed
# and written to $RESULTS_DIR/<stamp>-multicore.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${1:?usage: multicore.sh /path/to/spillway}
HARNESS=${HARNESS:-$here/../../../shared/harness}
export SIZES=${SIZES:-"1024:64 65536:64"}
export RESULTS_DIR=${RESULTS_DIR:-$HARNESS/results}
export CANDIDATE_NAME=spillway CANDIDATE_PORT=${CANDIDATE_PORT:-18090}
export CANDIDATE_CMD="$here/candidate.sh $bin"
mkdir -p "$RESULTS_DIR"
stamp=$(date -u +%Y%m%d-%H%M%S)

run() { # run NAME VAR=VALUE...: one harness run; prints its CSV's path
  local name=$1; shift
  local before; before=$(ls "$RESULTS_DIR"/*.csv 2>/dev/null | sort || true)
  (cd "$HARNESS" && env "$@" ./run.sh >&2)
  comm -13 <(echo "$before") <(ls "$RESULTS_DIR"/*.csv | sort) | tail -1
}
one=$(run 1core PIN=1 PROXY_CPUS=1 LOAD_CPUS=0 ORIGIN_CPUS=0)
two=$(run 2cores PIN=1 PROXY_CPUS=0,1 LOAD_CPUS=0,1 ORIGIN_CPUS=0,1)

# Medians over repeats per target x workload, from both CSVs.
out="$RESULTS_DIR/$stamp-multicore.md"
awk -F, '
  FNR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; f++; next }
  $(col["target"]) == "direct" { next }
  {
    k = $(col["target"]) SUBSEP $(col["workload"]) SUBSEP $(col["conns"])
    keys[k] = 1
    n[k, f]++; rps[k, f, n[k, f]] = $(col["rps"]); cpu[k, f, n[k, f]] = $(col["proxy_cpu_us_per_req"])
    oth[k, f] = ($(col["other_cpu_pct"]) > oth[k, f]) ? $(col["other_cpu_pct"]) : oth[k, f]
  }
  function median(arr, k, f, m,   i, j, t, v) {
    for (i = 1; i <= m; i++) v[i] = arr[k, f, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
  }
  END {
    print "| target | workload (conns) | req/s 1 core | req/s 2 cores | scaling 1→2 | CPU µs/req 1 core | CPU µs/req 2 cores | max other CPU % (1 / 2) |"
    print "|---|---|---:|---:|---:|---:|---:|---:|"
    for (k in keys) {
      split(k, p, SUBSEP)
      r1 = median(rps, k, 1, n[k, 1]); r2 = median(rps, k, 2, n[k, 2])
      c1 = median(cpu, k, 1, n[k, 1]); c2 = median(cpu, k, 2, n[k, 2])
      printf "| %s | %s (%s) | %.0f | %.0f | %.2f× | %.1f | %.1f | %.0f / %.0f |\n", p[1], p[2], p[3], r1, r2, (r1 > 0 ? r2 / r1 : 0), c1, c2, oth[k, 1], oth[k, 2]
    }
  }' "$one" "$two" | { read -r h; read -r s; echo "$h"; echo "$s"; sort -t'|' -k3,3 -k2,2; } > "$out"
{
  echo
  echo "1 core: $(basename "$one"); 2 cores: $(basename "$two") (medians over repeats)."
} >> "$out"
cat "$out"
echo "wrote $out" >&2
