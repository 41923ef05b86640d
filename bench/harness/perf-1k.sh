#!/usr/bin/env bash
# perf-1k.sh MODE BIN [OUT]: one spillway build (or "nginx", syscalls mode only) under wrk at 1 KiB x64 in
# abn.sh's layout (proxy on CPU $PCPU (1), GOMAXPROCS=1; wrk -t1 and the origin on $LCPU (0)), and
#   MODE=record:   perf record -e cpu-clock -F 4999 -g of the proxy for 10 s of a 14 s run into OUT
#                  (then bench/harness/perf-us.py OUT REQS_PER_S FUNC... for µs per request);
#   MODE=syscalls: perf stat of the proxy's system calls over 5 s, per request wrk counted.
# ORIGIN, WORK, ORIGIN_ADDR, LISTEN_ADDR as abn.sh (defaults here: other ports than abn.sh's).
set -u
MODE=$1; BIN=$2; OUT=${3:-perf.data}
here=$(cd "$(dirname "$0")" && pwd)
W=${WORK:-/tmp/abn}; O=${ORIGIN:-$W/origin}; PC=${PCPU:-1}; LC=${LCPU:-0}
export ORIGIN_ADDR=${ORIGIN_ADDR:-127.0.0.1:29481} LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1:29491} CANDIDATE_DIR=$W/perf-cand ACCESS_LOG=0
mkdir -p $CANDIDATE_DIR
taskset -c $LC $O -addr $ORIGIN_ADDR >/dev/null 2>&1 & OP=$!
if [ "$BIN" = nginx ]; then
  N=$W/perf-ngx; mkdir -p $N/logs
  cat > $N/nginx.conf <<NGX
daemon off; master_process off; worker_processes 1; error_log $N/logs/error.log warn; pid $N/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off; keepalive_timeout 65s; keepalive_requests 100000;
  client_body_temp_path $N/cbt; proxy_temp_path $N/pt; fastcgi_temp_path $N/ft; uwsgi_temp_path $N/ut; scgi_temp_path $N/st;
  upstream origin { server $ORIGIN_ADDR; keepalive 64; keepalive_requests 100000; keepalive_timeout 60s; }
  server { listen $LISTEN_ADDR; location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGX
  taskset -c $PC nginx -p $N -c $N/nginx.conf & SP=$!
else
  GOMAXPROCS=1 taskset -c $PC $here/candidate.sh $BIN >/dev/null 2>&1 & SP=$!
fi
for i in $(seq 50); do curl -sf -o /dev/null http://$LISTEN_ADDR/size/1 && break; sleep 0.1; done
taskset -c $LC wrk -t1 -c64 -d1s http://$LISTEN_ADDR/size/1024 >/dev/null
if [ "$MODE" = record ]; then
  taskset -c $LC wrk -t1 -c64 -d14s http://$LISTEN_ADDR/size/1024 > $W/perf.wrk & WP=$!
  sleep 2
  perf record -e cpu-clock -F 4999 -g -p $SP -o $OUT -- sleep 10 2>/dev/null
  wait $WP
  grep -E "Requests/sec" $W/perf.wrk
else
  taskset -c $LC wrk -t1 -c64 -d6s http://$LISTEN_ADDR/size/1024 > $W/perf.wrk & WP=$!
  sleep 0.5
  ev=$(for s in read write writev recvfrom sendto ioctl setsockopt getsockopt epoll_pwait epoll_wait epoll_ctl ppoll futex nanosleep; do printf 'syscalls:sys_enter_%s,' $s; done)
  perf stat -x, -e "${ev%,}" -p $SP -o $W/perf.stat -- sleep 5
  wait $WP
  n=$(awk '/requests in/{print $1}' $W/perf.wrk)
  awk -F, -v n=$n '$3 ~ /sys_enter/ {sub("syscalls:sys_enter_", "", $3); printf "%-12s %6.3f per request\n", $3, $1/(n*5/6)}' $W/perf.stat
fi
kill $SP; wait $SP 2>/dev/null; kill $OP; wait 2>/dev/null
