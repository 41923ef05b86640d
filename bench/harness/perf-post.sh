#!/usr/bin/env bash
# perf-post.sh BIN SIZE CONNS OUT: perf record -e cpu-clock -F 4999 -g of one spillway build for
# 10 s of a 12 s wrk run of POST /echo with a SIZE-byte body (SIZE 0: GET /size/4) at CONNS
# connections, in abn.sh's layout (proxy on CPU 1 with GOMAXPROCS=1; wrk -t1 and the harness's
# origin on CPU 0); prints wrk's RESULT line (requests, duration_us). Then
#   bench/harness/perf-us.py OUT REQUESTS_PER_S FUNC...   (µs per request under each FUNC).
# HARNESS (../shared/harness): report.lua; ORIGIN: the origin binary
# (cd $HARNESS/origin && go build -o /tmp/abn/origin .); ORIGIN_ADDR, LISTEN_ADDR as below.
set -u
BIN=$1; SIZE=$2; C=$3; OUT=$4
here=$(cd "$(dirname "$0")" && pwd)
H=${HARNESS:-$here/../../../shared/harness}; W=${WORK:-/tmp/abn}; O=${ORIGIN:-$W/origin}
export ORIGIN_ADDR=${ORIGIN_ADDR:-127.0.0.1:29681} LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1:29691} CANDIDATE_DIR=$W/perf-post ACCESS_LOG=0
mkdir -p $CANDIDATE_DIR
taskset -c 0 $O -addr $ORIGIN_ADDR >/dev/null 2>&1 & OP=$!
GOMAXPROCS=1 taskset -c 1 $here/candidate.sh $BIN >/dev/null 2>&1 & SP=$!
for i in $(seq 50); do curl -sf -o /dev/null http://$LISTEN_ADDR/size/1 && break; sleep 0.1; done
if [ "$SIZE" = 0 ]; then URL=http://$LISTEN_ADDR/size/4; export BODY_SIZE=; else URL=http://$LISTEN_ADDR/echo; export BODY_SIZE=$SIZE; fi
taskset -c 0 wrk -t1 -c$C -d1s -s $H/report.lua $URL >/dev/null
taskset -c 0 wrk -t1 -c$C -d12s -s $H/report.lua $URL > $W/perf-post.wrk & WP=$!
sleep 1
perf record -e cpu-clock -F 4999 -g -p $SP -o $OUT -- sleep 10 >/dev/null 2>&1
wait $WP
grep RESULT $W/perf-post.wrk | sed 's/ err_.*//'
kill $SP; wait $SP 2>/dev/null; kill $OP; wait $OP 2>/dev/null
