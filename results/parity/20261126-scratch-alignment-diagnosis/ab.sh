#!/usr/bin/env bash
# usage: ab.sh ROUNDS outcsv cmdA -- cmdB   (each cmd prints llama-bench jsonl)
R=$1; OUT=$2; shift 2
A=(); while [ "$1" != "--" ]; do A+=("$1"); shift; done; shift; B=("$@")
echo "round,tool,test,avg_ts" > $OUT
one() { local r=$1 name=$2; shift 2; "$@" 2>/dev/null | python3 /tmp/lbt/parse.py $r $name >> $OUT; }
for r in $(seq 1 $R); do
  if [ $((r%2)) = 1 ]; then one $r A "${A[@]}"; one $r B "${B[@]}"; else one $r B "${B[@]}"; one $r A "${A[@]}"; fi
done
