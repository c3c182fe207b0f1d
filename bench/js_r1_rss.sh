#!/bin/bash
# js-r1-async memory: natsbench js -s 128 --async 256 --duration 10 against one server started in CWD with
# CMD -a 127.0.0.1 -p 14577 -js -sd <tmp>; prints one table row: msgs/s, RSS idle / peak / at end / 5 s later.
# Usage: bash bench/js_r1_rss.sh LABEL CWD CMD...   (e.g. petrel . node_modules/.bin/bun run mod.ts)
LABEL=$1; CWD=$2; shift 2
D=$(mktemp -d); P=14577
cd $CWD
"$@" -a 127.0.0.1 -p $P -js -sd $D > /tmp/jsr1-$LABEL.log 2>&1 & pid=$!
for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.05; done
sleep 0.5
idle=$(awk '/VmRSS/{print int($2/1024)}' /proc/$pid/status)
peak=0
( while kill -0 $pid 2>/dev/null; do r=$(awk '/VmRSS/{print int($2/1024)}' /proc/$pid/status 2>/dev/null); [ -n "$r" ] && echo $r; sleep 0.5; done ) > /tmp/jsr1-rss-$LABEL.txt &
mon=$!
res=$(/work/shared/bench/bin/natsbench js --url nats://127.0.0.1:$P -s 128 --replicas 1 --async 256 --duration 10 --keep-stream 2>/dev/null | grep RESULT)
end=$(awk '/VmRSS/{print int($2/1024)}' /proc/$pid/status)
sleep 5
after=$(awk '/VmRSS/{print int($2/1024)}' /proc/$pid/status)
kill -TERM $pid; wait $pid 2>/dev/null; kill $mon 2>/dev/null
peak=$(sort -n /tmp/jsr1-rss-$LABEL.txt | tail -1)
rate=$(echo "$res" | sed 's/.*"msgs_s":\([0-9.]*\).*/\1/' | cut -d. -f1)
echo "| $LABEL | $rate | $idle MB | $peak MB | $end MB | $after MB |"
rm -rf $D
