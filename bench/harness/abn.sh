#!/usr/bin/env bash
# abn.sh ROUNDS SIZE CONNS TARGET...: CPU µs/req (user+sys, and each), req/s, p99 per target, interleaved in rounds.
# TARGET: a spillway binary (candidate.sh's config, beside this script), "nginx" (the harness's nginx.conf settings)
# or "haproxy" (the harness's haproxy.cfg: nbthread $PROCS, keep-alive both sides, http-reuse safe).
# Proxy on CPU $PCPU (1) with $PROCS (1) workers/GOMAXPROCS; wrk -t1 and the origin on $LCPU (0). ACCESS_LOG=1: combined log on both.
# ORIGIN: the harness's origin binary (cd ../shared/harness/origin && go build -o /tmp/abn/origin .); WORK (/tmp/abn): scratch.
# The lead's /tmp/h60/abn.sh, with its paths made parameters.
set -u
R=$1; SIZE=$2; C=$3; shift 3
here=$(cd "$(dirname "$0")" && pwd)
W=${WORK:-/tmp/abn}; O=${ORIGIN:-$W/origin}
P=${PROCS:-1}; PC=${PCPU:-1}; LC=${LCPU:-0}; AL=${ACCESS_LOG:-0}; D=${DUR:-5}
export ORIGIN_ADDR=${ORIGIN_ADDR:-127.0.0.1:29480} LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1:29490} CANDIDATE_DIR=$W/cand ACCESS_LOG=$AL ACCESS_LOG_FILE=$W/cand/access.log
mkdir -p $CANDIDATE_DIR
N=$W/ngx; mkdir -p $N/logs
if [ "$AL" = 1 ]; then NAL="access_log $N/logs/access.log combined;"; else NAL="access_log off;"; fi
cat > $N/nginx.conf <<NGX
daemon off; master_process on; worker_processes $P; error_log $N/logs/error.log warn; pid $N/nginx.pid;
events { worker_connections 4096; }
http {
  $NAL keepalive_timeout 65s; keepalive_requests 100000;
  client_body_temp_path $N/cbt; proxy_temp_path $N/pt; fastcgi_temp_path $N/ft; uwsgi_temp_path $N/ut; scgi_temp_path $N/st;
  upstream origin { server $ORIGIN_ADDR; keepalive 64; keepalive_requests 100000; keepalive_timeout 60s; }
  server { listen $LISTEN_ADDR; location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGX
H=$W/hap; mkdir -p $H
if [ "$AL" = 1 ]; then HGL="log stdout format raw local0 info"; HDL="log global
    option httplog"; else HGL=; HDL=; fi
cat > $H/haproxy.cfg <<HAP
global
    nbthread $P
    maxconn 8000
    $HGL
defaults
    mode http
    $HDL
    option http-keep-alive
    http-reuse safe
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend fe
    bind $LISTEN_ADDR
    default_backend be
backend be
    server origin $ORIGIN_ADDR
HAP
taskset -c $LC $O -addr $ORIGIN_ADDR >/dev/null 2>&1 & OP=$!
cpu() { local u=0 s=0; for p in $(pgrep -P $1) $1; do read a b < <(awk '{print $14, $15}' /proc/$p/stat); u=$((u+a)); s=$((s+b)); done; echo $u $s; }
for r in $(seq $R); do for b in "$@"; do
  if [ "$b" = nginx ]; then taskset -c $PC nginx -p $N -c $N/nginx.conf & SP=$!
  elif [ "$b" = haproxy ]; then taskset -c $PC haproxy -db -f $H/haproxy.cfg >$H/access.log 2>&1 & SP=$!
  else GOMAXPROCS=$P taskset -c $PC $here/candidate.sh $b >/dev/null 2>&1 & SP=$!; fi
  for i in $(seq 50); do curl -sf -o /dev/null http://$LISTEN_ADDR/size/1 && break; sleep 0.1; done
  taskset -c $LC wrk -t1 -c$C -d1s http://$LISTEN_ADDR/size/$SIZE >/dev/null
  read u0 s0 < <(cpu $SP)
  taskset -c $LC wrk -t1 -c$C -d${D}s --latency http://$LISTEN_ADDR/size/$SIZE > $W/abn.wrk
  read u1 s1 < <(cpu $SP)
  n=$(awk '/requests in/{print $1}' $W/abn.wrk)
  printf "%-16s %6.2f µs/req (user %5.2f sys %5.2f) %7.0f req/s  p99 %-8s load %s\n" $(basename $b) \
    $(echo "($u1-$u0+$s1-$s0)*10000/$n" | bc -l) $(echo "($u1-$u0)*10000/$n" | bc -l) $(echo "($s1-$s0)*10000/$n" | bc -l) \
    $(echo "$n/$D" | bc -l) $(awk '/ 99%/{print $2}' $W/abn.wrk) $(cut -d' ' -f1 /proc/loadavg)
  kill $SP; wait $SP 2>/dev/null
  : > $W/cand/access.log 2>/dev/null; : > $N/logs/access.log; : > $H/access.log
done; done
kill $OP; wait 2>/dev/null
