#!/usr/bin/env python3
# perf-share.py PERF_DATA REQ_PER_S: the share of a perf profile's samples
# (self) in the client watch and the runtime's timers, and what that is per
# request for a proxy that was CPU-bound at REQ_PER_S. A share within one
# profile does not move with the machine's load as CPU time per request does.
import sys,subprocess,re
f,rps=sys.argv[1],float(sys.argv[2])
out=subprocess.run(['perf','report','-i',f,'--no-children','--sort','sym','-g','none','--percent-limit','0'],capture_output=True,text=True).stdout
pat=re.compile(r'clientWatch|clientabort|[Ss]weep|watchList|time\.\(\*Timer\)|runtime\.\(\*timer\)|runtime\.\(\*timers\)|runtime\.siftdown|runtime\.runtimer|time\.AfterFunc|runtime\.modtimer|runtime\.deltimer|time\.goFunc')
tot=0; items=[]
for l in out.split('\n'):
    m=re.match(r'\s+([\d.]+)%\s+\[\.\]\s+(.*)',l)
    if m and pat.search(m.group(2)):
        p=float(m.group(1)); tot+=p; items.append((p,m.group(2).strip()))
us=1e6/rps
print(f"{f}: watch+timers self {tot:.2f}% = {tot/100*us:.3f} us/req at {rps:.0f} req/s (CPU-bound proxy)")
for p,n in sorted(items,reverse=True)[:8]: print(f"   {p:5.2f}% {n}")
