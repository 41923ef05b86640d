#!/usr/bin/env bash
# Interleaved A/B of two spillway builds on the harness's POST /echo
# workloads: each round runs A then B (B then A every other round), spillway pinned to CPU 1 with
# GOMAXPROCS=1 and candidate.sh's configuration, wrk and the harness's origin
# on CPU 0; it prints the proxy's CPU µs per request (utime+stime from /proc
# over the run) of every run and the medians. Interleaving puts both builds
# under the same load from other processes, which on a shared machine moves
# the harness's runs minutes apart more than most changes do. Usage:
#
#   HARNESS=/path/to/harness bench/harness/echo-ab.sh ROUNDS /tmp/spillway-a /tmp/spillway-b
#
# SIZES (default "1024:64 65536:16 1048576:4", BODY:CONNS), DUR (seconds per
# run, default 5), ORIGIN_PORT (27580), PROXY_PORT (27590): ports outside the
# ephemeral range, which other clients' source ports can take.
set -euo pipefail
rounds=${1:?rounds}; a=${2:?binary A}; b=${3:?binary B}
harness=${HARNESS:?the harness directory (origin/, report.lua)}
sizes=${SIZES:-"1024:64 65536:16 1048576:4"}; dur=${DUR:-5}
oport=${ORIGIN_PORT:-27580}; pport=${PROXY_PORT:-27590}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d /tmp/echo-ab.XXXX)
(cd "$harness/origin" && go build -o "$work/origin" .)
taskset -c 0 "$work/origin" -addr "127.0.0.1:$oport" >/dev/null 2>&1 &
opid=$!
ppid=
cleanup() { [ -n "$ppid" ] && kill "$ppid" 2>/dev/null; kill "$opid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
run() { # run BINARY: one pass over the sizes
  local bin=$1 d=$work/proxy s n c t0 t1 out req
  mkdir -p "$d"
  CANDIDATE_DIR=$d LISTEN_ADDR=127.0.0.1:$pport ORIGIN_ADDR=127.0.0.1:$oport GOMAXPROCS=1 \
    taskset -c 1 "$here/candidate.sh" "$bin" >"$d/out" 2>&1 &
  ppid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$pport/size/1" && break; sleep 0.1; done
  for s in $sizes; do
    n=${s%%:*}; c=${s##*:}
    BODY_SIZE=$n taskset -c 0 wrk -t1 -c"$c" -d1s -s "$harness/report.lua" "http://127.0.0.1:$pport/echo" >/dev/null
    t0=$(awk '{print $14+$15}' "/proc/$ppid/stat")
    out=$(BODY_SIZE=$n taskset -c 0 wrk -t1 -c"$c" -d"${dur}s" -s "$harness/report.lua" "http://127.0.0.1:$pport/echo")
    t1=$(awk '{print $14+$15}' "/proc/$ppid/stat")
    req=$(echo "$out" | sed -n 's/^RESULT requests=\([0-9]*\).*/\1/p')
    echo "$(basename "$bin") $n $(awk -v a="$t0" -v b="$t1" -v r="$req" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", (b-a)*1e6/hz/r}')"
  done
  kill "$ppid"; wait "$ppid" 2>/dev/null || true; ppid=
  rm -rf "$d"
}
# The order alternates (A B, B A, ...): the second build of a round ran
# about 5% cheaper than the first whichever it was (2026-12-07, two 1 MiB
# A/Bs of one pair, each order once), so a fixed order favours B.
for i in $(seq "$rounds"); do
  if [ $((i % 2)) = 1 ]; then run "$a"; run "$b"; else run "$b"; run "$a"; fi
done | tee "$work/all"
echo "medians, CPU µs per request:"
for bin in "$a" "$b"; do
  for s in $sizes; do
    n=${s%%:*}
    grep "^$(basename "$bin") $n " "$work/all" | awk '{print $3}' | sort -n |
      awk -v l="$(basename "$bin") $n" '{v[NR]=$1} END {print l, (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
  done
done
