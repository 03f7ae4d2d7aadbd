#!/bin/bash
# Benchmarks/AB/paid-run.sh LABEL RELEASE_BIN_DIR CONCURRENCY [SECONDS]: a fresh `payrail serve` from that build
# directory and its `paid-bench` against it (1 s warm-up); prints the JSON line and the server CPU per
# measured call (the warm-up included, so it reads high). Run it for two builds in turn. Not a test.
L=$1; B=$2; C=$3; S=${4:-5}
D=${TMPDIR:-/tmp}/payrail-paid-$L-$C; rm -rf $D
$B/payrail serve --port 0 --data $D --rate-limit 0 > $D.log 2>&1 & P=$!
sleep 2; O=$(grep -o 'http://[0-9.:]*' $D.log | head -1)
t0=$(awk '{print $14+$15}' /proc/$P/stat)
out=$($B/paid-bench --origin $O --payer $D/fake-payer.json --concurrency $C --seconds $S --warmup 1 --json)
t1=$(awk '{print $14+$15}' /proc/$P/stat)
kill $P; wait $P 2>/dev/null
n=$(sed 's/.*"calls":\([0-9]*\).*/\1/' <<<"$out")
echo "$L c=$C $out serverCPU/call(incl warmup)=$(awk -v t=$((t1-t0)) -v hz=$(getconf CLK_TCK) -v n=$n 'BEGIN{printf "%.0f us", t*1e6/hz/n}')"
