#!/usr/bin/env bash
# perfrun.sh BIN MODE: spillway BIN (candidate.sh's config) in front of the
# harness's origin under wrk -t1 -c64 GET /size/$SIZE for 8 s, and MODE
# on the proxy's process for 5 s of it:
#   stat    perf stat -e $EVENTS (default: task-clock, context switches,
#           futex, epoll_pwait, read, write, nanosleep, sched_yield calls),
#           $FILTER added (e.g. EVENTS=syscalls:sys_exit_read FILTER='--filter ret<0')
#   record  perf record $REC (default -F 999) -g into $WORK/perf.data
#   none    nothing (e.g. EXTRAENV='GODEBUG=schedtrace=1000'; its output in $WORK/out.txt)
# Layout as abn.sh: proxy on $PCPU (0,1) with GOMAXPROCS=$PROCS (2), wrk and
# the origin on $LCPU (0,1); ORIGIN the origin binary, WORK (/tmp/perfrun) scratch.
# Prints wrk's req/s; perf's output is in $WORK/stat.txt or $WORK/perf.data.
set -u
BIN=$1; MODE=$2; SIZE=${SIZE:-1024}
W=${WORK:-/tmp/perfrun}; O=${ORIGIN:-$W/origin}; mkdir -p $W/cand
here=$(cd "$(dirname "$0")" && pwd)
export ORIGIN_ADDR=${ORIGIN_ADDR:-127.0.0.1:29751} LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1:29752} CANDIDATE_DIR=$W/cand ACCESS_LOG=0
LC=${LCPU:-0,1}
taskset -c $LC $O -addr $ORIGIN_ADDR >/dev/null 2>&1 & OP=$!
env ${EXTRAENV:-} GOMAXPROCS=${PROCS:-2} taskset -c ${PCPU:-0,1} $here/candidate.sh $BIN > $W/out.txt 2>&1 & SP=$!
for i in $(seq 50); do curl -sf -o /dev/null http://$LISTEN_ADDR/size/1 && break; sleep 0.1; done
taskset -c $LC wrk -t1 -c64 -d1s http://$LISTEN_ADDR/size/$SIZE >/dev/null
taskset -c $LC wrk -t1 -c64 -d8s http://$LISTEN_ADDR/size/$SIZE > $W/wrk.txt & WP=$!
sleep 1
case $MODE in
stat) perf stat -e ${EVENTS:-task-clock,context-switches,cpu-migrations,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_nanosleep,syscalls:sys_enter_sched_yield} ${FILTER:-} -p $SP -- sleep 5 2> $W/stat.txt ;;
record) perf record ${REC:--F 999} -g -p $SP -o $W/perf.data -- sleep 5 2>/dev/null ;;
none) sleep 5 ;;
esac
wait $WP
grep -E "Requests/sec" $W/wrk.txt
kill $SP; wait $SP 2>/dev/null
kill $OP; wait $OP 2>/dev/null
