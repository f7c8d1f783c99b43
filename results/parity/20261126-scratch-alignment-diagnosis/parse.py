import json,sys
for l in sys.stdin:
    if l.strip():
        t=json.loads(l); n="pp%d"%t["n_prompt"] if t["n_gen"]==0 else "tg%d"%t["n_gen"]
        print("%s,%s,%s,%s"%(sys.argv[1],sys.argv[2],n,t["avg_ts"]))
