#!/usr/bin/env bash
# syscalls.sh SIZE CONNS TARGET...: system calls per request of each target, which do
# not depend on the machine's load as CPU time does. Targets and layout as abn.sh's
# (a spillway binary, "nginx", "haproxy"; proxy on $PCPU, h2load --h1 and the origin
# on $LCPU); abn.sh writes the configs ($WORK/ngx, $WORK/hap: run it once first, e.g.
# `abn.sh 0 1 1 nginx`). h2load sends $WARM (2000) requests GET /size/SIZE over CONNS
# connections, then $N (20000) more under `strace -f -c` (every thread of the proxy's
# processes), then $NT (2000) more under `strace -f -e trace=$TRACE` for the sizes.
# Prints calls per request; $WORK/sc-<target>.{c,t} are strace's files. strace slows
# the proxy (so reads find more bytes waiting, batching changes): MODE=perf counts with
# `perf stat -e syscalls:sys_enter_*` instead, without tracing's slowdown, and no sizes;
# it also counts the proxy's context switches and the wake-ups it causes (sched_wakeup in its
# threads: of wrk, the origin, its own threads).
set -u
SIZE=$1; C=$2; shift 2
W=${WORK:-/tmp/abn}; O=${ORIGIN:-$W/origin}; here=$(cd "$(dirname "$0")" && pwd)
N=${N:-20000}; NT=${NT:-2000}; WARM=${WARM:-2000}; PC=${PCPU:-1}; LC=${LCPU:-0}
TRACE=${TRACE:-read,write,writev,readv,sendfile,recvfrom,sendto,recvmsg,sendmsg,splice}
export ORIGIN_ADDR=${ORIGIN_ADDR:-127.0.0.1:29480} LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1:29490} CANDIDATE_DIR=$W/cand ACCESS_LOG=0
mkdir -p $CANDIDATE_DIR
taskset -c $LC $O -addr $ORIGIN_ADDR >/dev/null 2>&1 & OP=$!
load() { taskset -c $LC h2load --h1 -n $1 -c $C -m 1 http://$LISTEN_ADDR/size/$SIZE | awk '/^requests:/{print $8}'; }
for b in "$@"; do
  n=$(basename $b)
  if [ "$b" = nginx ]; then taskset -c $PC nginx -p $W/ngx -c $W/ngx/nginx.conf & SP=$!
  elif [ "$b" = haproxy ]; then taskset -c $PC haproxy -db -f $W/hap/haproxy.cfg >/dev/null 2>&1 & SP=$!
  else GOMAXPROCS=${PROCS:-1} taskset -c $PC $here/candidate.sh $b >/dev/null 2>&1 & SP=$!; fi
  for i in $(seq 50); do curl -sf -o /dev/null http://$LISTEN_ADDR/size/1 && break; sleep 0.1; done
  load $WARM >/dev/null
  pids=$(for p in $(pgrep -P $SP) $SP; do echo -n "-p $p "; done)
  if [ "${MODE:-strace}" = perf ]; then
    ev=$(for s in ${TRACE//,/ } sendfile64 epoll_wait epoll_pwait futex; do
      [ -e /sys/kernel/tracing/events/syscalls/sys_enter_$s ] && echo -n "-e syscalls:sys_enter_$s "; done
      echo -n "-e sched:sched_wakeup -e context-switches")
    perf stat $ev -x, -p $(echo $(pgrep -P $SP) $SP | tr ' ' ,) -o $W/sc-$n.c & TP=$!; sleep 0.5
    ok=$(load $N); sleep 0.2; kill -INT $TP; wait $TP
    awk -F, -v n=$N -v name=$n '$1+0>0{sub("syscalls:sys_enter_","",$3); sub("sched:sched_wakeup","wakeups",$3); printf "%-10s %-14s %8.3f /req\n", name, $3, $1/n}' $W/sc-$n.c
  else
    strace -f -c -o $W/sc-$n.c $pids 2>/dev/null & TP=$!; sleep 0.5
    ok=$(load $N); sleep 0.2; kill -INT $TP; wait $TP
    awk -v n=$N -v name=$n '$NF ~ /^[a-z_0-9]+$/ && $4+0>0 && $NF!="total" {printf "%-10s %-14s %8.3f /req\n", name, $NF, $4/n}' $W/sc-$n.c
    strace -f -e trace=$TRACE -o $W/sc-$n.t $pids 2>/dev/null & TP=$!; sleep 0.5
    load $NT >/dev/null; sleep 0.2; kill -INT $TP; wait $TP
  fi
  echo "$n: $ok of $N succeeded"
  kill $SP; wait $SP 2>/dev/null
done
kill $OP; wait $OP 2>/dev/null
