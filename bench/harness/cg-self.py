#!/usr/bin/env python3
# cg-self.py FILE [N [SUBSTRING...]]: self cost per request of a callgrind
# file (callgrind.sh's $WORK/<target>.out), read from its records directly:
# callgrind_annotate 3.19 attributes Go's inlined frames to the wrong
# functions in two-connection runs. Prints the total and the total outside
# the Go runtime (every function not named runtime.*, runtime.mem* kept:
# the runtime's part moves with the machine's load, the scheduler's locks
# and netpoll, by up to 1,500 instructions per request between runs of one
# build), then the self cost of each function whose name contains one of
# the substrings. N: the requests counted (20000).
#
#   bench/harness/cg-self.py /tmp/cg/new.out 20000 'exchange).reset' beginVars
import collections
import re
import sys

path = sys.argv[1]
n = float(sys.argv[2]) if len(sys.argv) > 2 else 20000
pats = sys.argv[3:]
names = {}
cost = collections.Counter()


def name(tok):
    m = re.match(r'\((\d+)\)(?:\s+(.*))?', tok)
    if not m:
        return tok
    if m.group(2):
        names[m.group(1)] = m.group(2)
    return names.get(m.group(1), tok)


fn, after_call = None, False
for line in open(path, errors='replace'):
    line = line.rstrip('\n')
    if not line:
        continue
    if line.startswith('fn='):
        fn, after_call = name(line[3:]), False
    elif line.startswith('calls='):
        after_call = True  # the next cost line is the call's inclusive cost
    elif line.startswith('cfn='):
        name(line[4:])
    elif line[0].isdigit() or line[0] in '+-*':
        parts = line.split()
        if len(parts) >= 2 and fn is not None:
            if after_call:
                after_call = False
            else:
                cost[fn] += int(parts[1])

total = sum(cost.values())
outside = sum(v for k, v in cost.items() if not k.startswith('runtime.') or k.startswith('runtime.mem'))
print("total %.0f  outside runtime %.0f" % (total / n, outside / n))
for p in pats:
    for k, v in sorted(cost.items(), key=lambda kv: -kv[1]):
        if p in k and v / n >= 1:
            print("  %8.1f %s" % (v / n, k))
