#!/usr/bin/env bash
# HTTP/2 against nginx (issue #21's benchmark line): spillway and nginx,
# each one process / one worker on TLS "listen ... ssl http2", pinned to
# the same core (PROXY_CPU), in front of the same origin (`spillway
# upstream`: GET /size/N answers N bytes, on LOAD_CPU with h2load), in the
# same run. First, before any load, memory per idle h2 connection: RSS
# growth of the proxy while bench/h2idle holds IDLE connections (each after
# one request), divided by IDLE. Then for each response size and target:
#
#   h2load -n N -c C -m M https://127.0.0.1:PORT/size/SIZE
#
# after a warm-up, giving requests/s (h2load's), CPU µs per request of the
# proxy process (utime+stime from /proc/PID/stat before and after), p99 of
# the request time (h2load --log-file, per request). Usage:
#
#   (cd /path/to/spillway && go build -o /tmp/spillway ./cmd/spillway &&
#    go build -o /tmp/h2idle ./bench/h2idle)
#   bench/harness/h2load.sh /tmp/spillway /tmp/h2idle
#
# BASELINE=/path/to/an/older/spillway adds it as the target "baseline"
# (same configuration, its own port), for a before/after in the same run.
# The "spilled" column counts the responses buffered to a temporary file
# during the run (both log nginx's "[warn] an upstream response is buffered
# to a temporary file").
#
# Knobs: N (200000), C (64), M (10), SIZES ("1024 65536"), IDLE ("1000
# 5000"), REPEATS (1), TARGETS ("nginx spillway", plus "baseline" with
# BASELINE), PROXY_CPU (1), LOAD_CPU (0), NGINX (nginx), PORT_NGINX (18443),
# PORT_SPILLWAY (18444), PORT_BASELINE (18445), PORT_ORIGIN (18180),
# KEEP_TMP=1 keeps the scratch directory. Only one target runs at a time;
# the others are idle. The tables (markdown) go to stdout; progress to
# stderr.
set -euo pipefail
bin=${1:?usage: h2load.sh /path/to/spillway /path/to/h2idle}
idle_bin=${2:?usage: h2load.sh /path/to/spillway /path/to/h2idle}
N=${N:-200000} C=${C:-64} M=${M:-10}
SIZES=${SIZES:-"1024 65536"} IDLE=${IDLE:-"1000 5000"} REPEATS=${REPEATS:-1}
BASELINE=${BASELINE:-}
TARGETS=${TARGETS:-"nginx spillway${BASELINE:+ baseline}"}
PROXY_CPU=${PROXY_CPU:-1} LOAD_CPU=${LOAD_CPU:-0}
NGINX=${NGINX:-nginx}
PORT_NGINX=${PORT_NGINX:-18443} PORT_SPILLWAY=${PORT_SPILLWAY:-18444} PORT_BASELINE=${PORT_BASELINE:-18445} PORT_ORIGIN=${PORT_ORIGIN:-18180}
for tool in h2load openssl taskset "$NGINX"; do
  command -v "$tool" >/dev/null || { echo "h2load.sh: $tool is not installed" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/h2load.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ "${KEEP_TMP:-0}" = 1 ] && echo "kept $dir" >&2 || rm -rf "$dir"
}
trap cleanup EXIT
log() { echo "h2load.sh: $*" >&2; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null

taskset -c "$LOAD_CPU" "$bin" upstream --listen "127.0.0.1:$PORT_ORIGIN" >"$dir/origin.log" 2>&1 &
pids+=($!)

# The same settings on both: keepalive 64 to the origin over HTTP/1.1,
# access log off, keepalive_requests high enough that no connection is
# closed under the load, default http2_* settings.
mkdir -p "$dir/nginx/logs"
cat >"$dir/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log $dir/nginx/logs/error.log warn;
pid $dir/nginx/nginx.pid;
events { worker_connections 16000; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/body; proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fcgi; uwsgi_temp_path $dir/nginx/uwsgi; scgi_temp_path $dir/nginx/scgi;
  keepalive_requests 1000000;
  upstream origin { server 127.0.0.1:$PORT_ORIGIN; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$PORT_NGINX ssl http2;
    ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
spillway_conf() { # spillway_conf NAME PORT: the configuration of a spillway target
  mkdir -p "$dir/$1"
  cat >"$dir/$1/proxy.yaml" <<EOF
error_log: {path: $dir/$1/error.log, level: warn}
http:
  proxy_temp_path: $dir/$1/proxy_temp
  client_body_temp_path: $dir/$1/client_body_temp
  keepalive_requests: 1000000
  upstreams:
    origin:
      keepalive: 64
      keepalive_requests: 1000000
      servers: [{address: 127.0.0.1:$PORT_ORIGIN}]
  servers:
    - listen: ["127.0.0.1:$2 ssl http2"]
      ssl_certificate: $dir/cert.pem
      ssl_certificate_key: $dir/key.pem
      access_log: off
      locations:
        - path: /
          proxy_pass: http://origin
          proxy_http_version: "1.1"
          proxy_set_header: {Connection: ""}
EOF
}
spillway_conf spillway "$PORT_SPILLWAY"
[ -z "$BASELINE" ] || spillway_conf baseline "$PORT_BASELINE"

declare -A pid port
start() { # start TARGET: pinned to PROXY_CPU, one process, one worker
  case $1 in
  nginx)
    taskset -c "$PROXY_CPU" "$NGINX" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" 2>>"$dir/nginx/stderr" &
    port[nginx]=$PORT_NGINX ;;
  spillway)
    GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$bin" serve -c "$dir/spillway/proxy.yaml" 2>>"$dir/spillway/stderr" &
    port[spillway]=$PORT_SPILLWAY ;;
  baseline)
    GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$BASELINE" serve -c "$dir/baseline/proxy.yaml" 2>>"$dir/baseline/stderr" &
    port[baseline]=$PORT_BASELINE ;;
  esac
  pid[$1]=$!
  pids+=($!)
}
for t in $TARGETS; do start "$t"; done
for t in $TARGETS; do
  for _ in $(seq 100); do
    curl -sfk --http2 -o /dev/null "https://127.0.0.1:${port[$t]}/size/1" && break
    sleep 0.1
  done
  curl -sfk --http2 -o /dev/null "https://127.0.0.1:${port[$t]}/size/1" || { log "$t did not come up"; exit 1; }
done

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
errlog() { if [ "$1" = nginx ]; then echo "$dir/nginx/logs/error.log"; else echo "$dir/$1/error.log"; fi; }
spills() { grep -c 'buffered to a temporary file' "$(errlog "$1")" 2>/dev/null || true; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

echo "| target | idle h2 connections | RSS before (KiB) | RSS with them (KiB) | KiB per connection |"
echo "|---|---:|---:|---:|---:|"
for n in $IDLE; do
  for t in $TARGETS; do
    mkfifo "$dir/hold"
    before=$(rss_kib "${pid[$t]}")
    taskset -c "$LOAD_CPU" "$idle_bin" -addr "127.0.0.1:${port[$t]}" -n "$n" <"$dir/hold" >"$dir/idle.out" 2>&1 &
    holder=$!
    pids+=($holder)
    exec 9>"$dir/hold" # the holder's stdin stays open until 9 closes
    until grep -q '^ready' "$dir/idle.out" 2>/dev/null; do
      kill -0 "$holder" 2>/dev/null || { cat "$dir/idle.out" >&2; exit 1; }
      sleep 0.2
    done
    sleep 1 # let the last connections' goroutines / buffers settle
    with=$(rss_kib "${pid[$t]}")
    exec 9>&-
    wait "$holder" || true
    rm -f "$dir/hold"
    per=$(awk -v a="$before" -v b="$with" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')
    log "$t $n idle: $per KiB each"
    echo "| $t | $n | $before | $with | $per |"
    sleep 2 # the closed connections go before the next count
  done
done
echo
echo "| target | response | requests/s | CPU µs/req | p99 ms | mean ms | failed | spilled | load avg before |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
read -ra order <<<"$TARGETS"
for r in $(seq "$REPEATS"); do
  for size in $SIZES; do
    # The first target of a round is rotated (A B C, B C A, ...), as
    # ../shared/harness does, so that none always runs first.
    k=$(((r - 1) % ${#order[@]}))
    for t in "${order[@]:k}" "${order[@]:0:k}"; do
      url="https://127.0.0.1:${port[$t]}/size/$size"
      taskset -c "$LOAD_CPU" h2load -n $((N / 10)) -c "$C" -m "$M" "$url" >/dev/null 2>&1 # warm-up
      load=$(cut -d' ' -f1-3 /proc/loadavg)
      spilled0=$(spills "$t")
      before=$(ticks "${pid[$t]}")
      rm -f "$dir/req.log" # h2load appends to its log file
      out=$(taskset -c "$LOAD_CPU" h2load -n "$N" -c "$C" -m "$M" --log-file="$dir/req.log" "$url" 2>&1)
      after=$(ticks "${pid[$t]}")
      spilled=$(($(spills "$t") - spilled0))
      rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
      ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded, \([0-9]*\) failed.*/\1 \2/p' <<<"$out")
      read -r succeeded failed <<<"$ok"
      lat=$(cut -f3 "$dir/req.log" | sort -n | awk '{ v[NR] = $1; s += $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f %.2f", v[i] / 1000, s / NR / 1000 }')
      read -r p99 mean <<<"$lat"
      cpu=$(awk -v d=$((after - before)) -v hz="$hz" -v n="$succeeded" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
      log "round $r $t $size: $rps req/s, $cpu µs/req, p99 $p99 ms"
      echo "| $t | $size | ${rps%.*} | $cpu | $p99 | $mean | $failed | $spilled | $load |"
    done
  done
done

echo
echo "h2load -n $N -c $C -m $M; proxy on CPU $PROXY_CPU, h2load, origin and h2idle on CPU $LOAD_CPU; $(nproc) CPUs; $($NGINX -v 2>&1); $("$bin" version 2>/dev/null | head -1 || true)"
