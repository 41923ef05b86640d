#!/usr/bin/env python3
"""perf-us.py PERF_DATA REQS_PER_S FUNC...: from perf-1k.sh's record (10 s at
4999 Hz), µs of the proxy's CPU per request: in total, in user space, and
under each FUNC (inclusive: it and what it calls, kernel too). A FUNC written
"A > B" counts only B's samples called from A (e.g. "X > time.Now")."""
import collections, subprocess, sys

perf, rps = sys.argv[1], float(sys.argv[2])
out = subprocess.run(['perf', 'script', '-i', perf, '-F', 'ip,sym'], capture_output=True, text=True).stdout
incl, tot, user = collections.Counter(), 0, 0
for s in out.split('\n\n'):
    lines = [l.strip() for l in s.strip().split('\n') if l.strip()]
    if not lines:
        continue
    tot += 1
    if not lines[0].split()[0].startswith('ffff'):
        user += 1
    names = [(l.split(None, 1) + [''])[1].split('+')[0] for l in lines]
    seen = set(names)
    for n in seen:
        incl[n] += 1
    pairs = {names[i] + ' > ' + names[i - 1] for i in range(1, len(names))}
    for p in pairs:
        incl[p] += 1
us = lambda c: c / 4999 / (rps * 10) * 1e6
print("total %.2f µs/req (user %.2f)" % (us(tot), us(user)))
for k in sys.argv[3:]:
    print("%7.3f µs/req  %s" % (us(incl[k]), k))
