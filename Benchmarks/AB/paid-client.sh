#!/bin/bash
# Benchmarks/AB/paid-client.sh LABEL SERVER_BIN_DIR CLIENT_BIN_DIR CONCURRENCY SECONDS: a fresh `payrail serve` from
# SERVER_BIN_DIR and the `paid-bench` of CLIENT_BIN_DIR against it (0.5 s warm-up); prints paid calls per second,
# the p50, and the agent's and the server's CPU per measured call (warm-up counted). Run it for two client builds
# in turn against one server build to compare clients. Not a test.
L=$1; SB=$2; CB=$3; C=$4; S=$5
D=/tmp/abc-$L; rm -rf $D
$SB/payrail serve --port 0 --data $D --rate-limit 0 > $D.log 2>&1 & P=$!
sleep 1.5; O=$(grep -o 'http://[0-9.:]*' $D.log | head -1)
t0=$(awk '{print $14+$15}' /proc/$P/stat)
out=$( { /usr/bin/time -f "AGENTCPU %U %S" $CB/paid-bench --origin $O --payer $D/fake-payer.json --concurrency $C --seconds $S --warmup 0.5 --json; } 2>&1 )
t1=$(awk '{print $14+$15}' /proc/$P/stat)
kill $P; wait $P 2>/dev/null
n=$(grep -o '"calls":[0-9]*' <<<"$out" | cut -d: -f2)
rate=$(grep -o '"paidPerSecond":[0-9.]*' <<<"$out" | cut -d: -f2)
p50=$(grep -o '"p50Ms":[0-9.]*' <<<"$out" | cut -d: -f2)
a=$(grep AGENTCPU <<<"$out" | awk '{print $2+$3}')
awk -v L=$L -v r=$rate -v p=$p50 -v n=$n -v a=$a -v t=$((t1-t0)) -v hz=$(getconf CLK_TCK) -v S=$S 'BEGIN{m=n*(S+0.5)/S; printf "%s rate=%s p50=%s agentCPU/call=%.0fus serverCPU/call=%.0fus\n", L, r, p, a*1e6/m, t*1e6/hz/m}'
