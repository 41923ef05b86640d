#!/usr/bin/env python3
"""abn-median.py LOG...: medians of abn.sh's lines per target: CPU µs/req,
user, sys, the ratio to nginx's figure of the same round, and p99; with
haproxy among the targets, the ratio to its figure of the same round too."""
import re, statistics, sys
rows = []
for f in sys.argv[1:]:
    for line in open(f):
        m = re.match(r'(\S+)\s+([\d.]+) µs/req \(user\s+([\d.]+) sys\s+([\d.]+)\)\s+(\d+) req/s\s+p99 ([\d.]+)(us|ms|s)', line)
        if m:
            p99 = float(m.group(6)) * {'us': 1e-3, 'ms': 1, 's': 1e3}[m.group(7)]
            rows.append((m.group(1), float(m.group(2)), float(m.group(3)), float(m.group(4)), p99))
# rounds: each starts at an nginx line
rounds, cur = [], {}
for r in rows:
    if r[0] == 'nginx' and cur:
        rounds.append(cur); cur = {}
    cur[r[0]] = r
if cur:
    rounds.append(cur)
targets = []
for r in rows:
    if r[0] not in targets:
        targets.append(r[0])
hap = 'haproxy' in targets
print("%-10s %6s %8s %6s %6s %8s %10s" % ("target", "rounds", "µs/req", "user", "sys", "vs nginx", "p99 ms") + ("       vs haproxy" if hap else ""))
for t in targets:
    v = [rd[t] for rd in rounds if t in rd]
    ratio = [rd[t][1] / rd['nginx'][1] for rd in rounds if t in rd and 'nginx' in rd]
    p99r = [rd[t][4] / rd['nginx'][4] for rd in rounds if t in rd and 'nginx' in rd]
    print("%-10s %6d %8.2f %6.2f %6.2f %7.2fx %10.1f (%.2fx)" % (t, len(v), statistics.median(x[1] for x in v),
          statistics.median(x[2] for x in v), statistics.median(x[3] for x in v),
          statistics.median(ratio) if ratio else 0, statistics.median(x[4] for x in v), statistics.median(p99r) if p99r else 0)
          + ("   %7.2fx" % statistics.median(rd[t][1] / rd['haproxy'][1] for rd in rounds if t in rd and 'haproxy' in rd) if hap else ""))
