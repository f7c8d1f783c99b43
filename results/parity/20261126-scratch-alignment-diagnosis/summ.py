import csv,sys,statistics as st
from math import comb
rows=list(csv.DictReader(open(sys.argv[1])))
d={}
for r in rows: d.setdefault((r['test'],r['round']),{})[r['tool']]=float(r['avg_ts'])
for test in sorted({k[0] for k in d}):
    rs=sorted(v['B']/v['A'] for k,v in d.items() if k[0]==test and 'A' in v and 'B' in v)
    n=len(rs)
    # distribution-free CI for median
    lo,hi=0,n-1
    for k in range(n//2):
        p=sum(comb(n,i) for i in range(k+1))/2**n
        if p<=0.025: lo,hi=k,n-1-k
    a=[v['A'] for k,v in d.items() if k[0]==test]; b=[v['B'] for k,v in d.items() if k[0]==test]
    print(f"{test}: n={n} median B/A={st.median(rs):.3f} [{rs[lo]:.3f}-{rs[hi]:.3f}] meanA={st.mean(a):.1f} meanB={st.mean(b):.1f}")
