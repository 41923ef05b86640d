#!/usr/bin/env bash
# callgrind.sh TARGET...: user-space instructions per request of each
# target, counted by valgrind's callgrind, which counts instructions, not
# time: the same binary and the same requests give the same count (within
# a fraction of a percent) however loaded the machine is, where CPU time on
# this shared 2-core machine moves by 5-50% between runs. The kernel's part
# (system calls, loopback delivery) is not counted: for that, abn.sh.
#
# TARGET: a spillway binary (candidate.sh's config, beside this script) or
# "nginx" (abn.sh's nginx.conf, one worker, no master process). Each runs
# under callgrind on CPU 1 with GOMAXPROCS=1; h2load --h1 on CPU 0 sends
# $WARM (2000) requests GET /size/$SIZE (1024) over $CONNS (2) kept-alive
# connections, callgrind's counters are zeroed, then $N (20000) more
# requests are counted, and the counters dumped. Two connections keep each
# request's wait under clientWatchDelay (5 ms) at valgrind's pace (about
# 50x slower than native), so no client watch arms, as none does natively
# at this load. Prints instructions per request; $WORK/<target>.out is
# callgrind's file. For where they go (callgrind_annotate), count a run with
# CONNS=64: in two-connection runs callgrind_annotate's per-function costs
# come out wrong here (functions above 70% of the total, for Go and nginx
# alike), though the total repeats; with 64 the watch arms under
# valgrind's pace, so their total is not the one to compare.
# Go's asynchronous preemption is off (CG_GODEBUG, default asyncpreemptoff=1): its
# SIGURGs can trip an assertion of callgrind's signal handling.
# BODY=FILE posts FILE to /echo instead (h2load -d; the origin echoes it).
#
#   go build -o /tmp/cg/new ./cmd/spillway
#   (cd ../shared/harness/origin && go build -o /tmp/cg/origin .)
#   WORK=/tmp/cg bench/harness/callgrind.sh nginx /tmp/cg/old /tmp/cg/new
set -u
here=$(cd "$(dirname "$0")" && pwd)
W=${WORK:-/tmp/cg}; O=${ORIGIN:-$W/origin}
SIZE=${SIZE:-1024}; C=${CONNS:-2}; N=${N:-20000}; WARM=${WARM:-2000}
export ORIGIN_ADDR=${ORIGIN_ADDR:-127.0.0.1:29580} LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1:29590} CANDIDATE_DIR=$W/cand ACCESS_LOG=0
mkdir -p $W/cand $W/ngx/logs
cat > $W/ngx/nginx.conf <<NGX
daemon off; master_process off; worker_processes 1; error_log $W/ngx/logs/error.log warn; pid $W/ngx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off; keepalive_timeout 65s; keepalive_requests 100000;
  client_body_temp_path $W/ngx/cbt; proxy_temp_path $W/ngx/pt; fastcgi_temp_path $W/ngx/ft; uwsgi_temp_path $W/ngx/ut; scgi_temp_path $W/ngx/st;
  upstream origin { server $ORIGIN_ADDR; keepalive 64; keepalive_requests 100000; keepalive_timeout 60s; }
  server { listen $LISTEN_ADDR; location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGX
taskset -c 0 $O -addr $ORIGIN_ADDR >/dev/null 2>&1 & OP=$!
trap 'kill $OP 2>/dev/null' EXIT
url=http://$LISTEN_ADDR/size/$SIZE; post=()
if [ -n "${BODY:-}" ]; then url=http://$LISTEN_ADDR/echo; post=(-d "$BODY"); fi
for t in "$@"; do
  name=$(basename $t); out=$W/$name.out; rm -f $out $out.*
  vg="valgrind --tool=callgrind --callgrind-out-file=$out"
  if [ "$t" = nginx ]; then taskset -c 1 $vg nginx -p $W/ngx -c $W/ngx/nginx.conf > $W/$name.vg 2>&1 & SP=$!
  else WRAP="$vg" GODEBUG=${CG_GODEBUG-asyncpreemptoff=1} GOMAXPROCS=1 taskset -c 1 $here/candidate.sh $t > $W/$name.vg 2>&1 & SP=$!; fi
  for i in $(seq 200); do curl -sf -o /dev/null http://$LISTEN_ADDR/size/1 && break; sleep 0.2; done
  taskset -c 0 h2load --h1 -n $WARM -c $C "${post[@]}" $url > /dev/null
  callgrind_control -z $SP > /dev/null 2>&1
  taskset -c 0 h2load --h1 -n $N -c $C "${post[@]}" $url > $W/$name.h2load
  if ! kill -0 $SP 2>/dev/null; then echo "$name: valgrind ended before the dump (see $W/$name.vg)"; continue; fi
  callgrind_control -d $SP > /dev/null 2>&1
  kill $SP; wait $SP 2>/dev/null
  ok=$(awk '/^requests:/{print $8}' $W/$name.h2load)
  ir=$(grep -h '^summary:' $out.* | awk '{s+=$2} END {print s}')
  printf "%-16s %8.0f instructions/request  (%d requests, %d succeeded, %s instructions)\n" $name $(echo "$ir/$N" | bc -l) $N $ok $ir
  mv $out.1 $out 2>/dev/null
done
