#!/bin/bash
# Benchmarks/AB/ab-402.sh BASE_PAYRAIL NEW_PAYRAIL [ROUNDS] [SECONDS]: two release `payrail serve` builds side by
# side (fresh data, --rate-limit 0), wrk -t2 -c64 on GET /healthz then GET /premium (a 402) on each, rounds
# alternating; prints requests per second and server CPU per request (/proc/PID/stat). Not a test.
BASE=$1; NEW=$2; R=${3:-3}; D=${4:-4}
hz=$(getconf CLK_TCK)
start() { rm -rf $2; $1 serve --port 0 --data $2 --rate-limit 0 > $2.log 2>&1 & echo $!; }
rm -rf ${TMPDIR:-/tmp}/payrail-ab-402; mkdir -p ${TMPDIR:-/tmp}/payrail-ab-402
PB=$(start $BASE ${TMPDIR:-/tmp}/payrail-ab-402/base); PN=$(start $NEW ${TMPDIR:-/tmp}/payrail-ab-402/new); sleep 3
OB=$(grep -o 'http://[0-9.:]*' ${TMPDIR:-/tmp}/payrail-ab-402/base.log | head -1); ON=$(grep -o 'http://[0-9.:]*' ${TMPDIR:-/tmp}/payrail-ab-402/new.log | head -1)
run() { local pid=$1 url=$2 t0 t1 out n rps
  t0=$(awk '{print $14+$15}' /proc/$pid/stat); out=$(wrk -t2 -c64 -d${D}s "$url"); t1=$(awk '{print $14+$15}' /proc/$pid/stat)
  n=$(awk '/requests in/ {print $1}' <<<"$out"); rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  awk -v t=$((t1-t0)) -v hz=$hz -v n=$n -v r=$rps 'BEGIN{printf "%.0f %.1f", r, t*1e6/hz/n}'; }
for i in $(seq 1 $R); do
  for which in base new; do
    if [ $which = base ]; then pid=$PB; o=$OB; else pid=$PN; o=$ON; fi
    read ur uc < <(run $pid $o/healthz); read cr cc < <(run $pid $o/premium)
    awk -v w=$which -v i=$i -v ur=$ur -v uc=$uc -v cr=$cr -v cc=$cc 'BEGIN{printf "round %d %-4s ungated %6d/s %6.1f us | 402 %6d/s %6.1f us | 402/ungated rps %.3f, CPU %.2fx\n", i, w, ur, uc, cr, cc, cr/ur, cc/uc}'
  done
done
kill $PB $PN
