#!/bin/sh
# bench-sip.sh: REGISTER rate and call rate (INVITE/180/200/ACK/BYE, no
# media) through sipproxy and through Kamailio 5.6 with the same routing
# (kamailio.cfg, 2 children), same sipp scenarios, PAIRS sipp pairs on
# loopback. Prints both side by side with the ratio sipproxy/Kamailio.
#   usage: bench-sip.sh [path/to/sipproxy]   (env: PAIRS REGS CALLS RATE)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../bin/sipproxy}
PAIRS=${PAIRS:-4}       # concurrent sipp clients (and UAS for calls)
REGS=${REGS:-20000}     # REGISTERs per client
CALLS=${CALLS:-3000}    # calls per client
RATE=${RATE:-5000}      # offered rate per client (per second)
work=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM

port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start_sipproxy() {
	GOGC=400 "$bin" --listen=udp:127.0.0.1:$1 --mgmt= --log-level=error >"$work/sipproxy.log" 2>&1 &
	pids="$pids $!"; sleep 0.5
}
start_kamailio() {
	sed "s/PORT/$1/g" "$here/kamailio.cfg" >"$work/kamailio.cfg"
	kamailio -f "$work/kamailio.cfg" -DD -E -m 256 -M 32 >"$work/kamailio.log" 2>&1 &
	pids="$pids $!"; sleep 1
}
stop_all() { for p in $pids; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=""; }

# collect: sums successful/failed calls of the stat files.
collect() {
	ok=0; bad=0
	for f in "$work"/stat.*.csv; do
		line=$(tail -1 "$f")
		ok=$((ok + $(echo "$line" | awk -F';' '{print $16}')))
		bad=$((bad + $(echo "$line" | awk -F';' '{print $18}')))
	done
	rm -f "$work"/stat.*.csv
}

# clients N COUNT ARGS...: runs N sipp clients (ARGS may use @i@ for the
# client index) in parallel, waits, sets ok, bad and secs.
clients() {
	n=$1; count=$2; shift 2
	start=$(date +%s.%N); i=0; cp=""
	while [ $i -lt "$n" ]; do
		args=$(echo "$@" | sed "s/@i@/$i/g")
		# shellcheck disable=SC2086
		sipp $args -i 127.0.0.1 -p "$(port)" -m "$count" -r "$RATE" -l 2000 -nostdin -timeout 120s \
			-trace_stat -fd 1 -stf "$work/stat.$i.csv" >/dev/null 2>&1 &
		cp="$cp $!"; i=$((i+1))
	done
	for c in $cp; do wait "$c" || true; done
	secs=$(echo "$(date +%s.%N) - $start" | bc -l)
	collect
}

bench_one() { # NAME -> prints "reg_rate reg_fail call_rate call_fail"
	p=$(port)
	if [ "$1" = sipproxy ]; then start_sipproxy "$p"; else start_kamailio "$p"; fi
	clients "$PAIRS" "$REGS" -sf "$here/register.xml" "127.0.0.1:$p"
	reg_rate=$(echo "$ok / $secs" | bc -l); reg_fail=$bad
	i=0; uas=""
	while [ $i -lt "$PAIRS" ]; do
		up=$(port)
		sipp -sf "$here/register_one.xml" -s "b$i" -i 127.0.0.1 -p "$up" -m 1 -nostdin "127.0.0.1:$p" >/dev/null 2>&1 || true
		sipp -sf "$here/uas.xml" -key user "b$i" -i 127.0.0.1 -p "$up" -nostdin >/dev/null 2>&1 &
		uas="$uas $!"; i=$((i+1))
	done
	clients "$PAIRS" "$CALLS" -sf "$here/../test/scenarios/uac_call.xml" -key user b@i@ "127.0.0.1:$p"
	call_rate=$(echo "$ok / $secs" | bc -l)
	for u in $uas; do kill "$u" 2>/dev/null || true; wait "$u" 2>/dev/null || true; done
	stop_all
	printf '%.0f %s %.0f %s\n' "$reg_rate" "$reg_fail" "$call_rate" "$bad"
}

command -v sipp >/dev/null || { echo "sipp missing (make deps)"; exit 1; }
command -v kamailio >/dev/null || { echo "kamailio missing (make deps)"; exit 1; }
[ -x "$bin" ] || { echo "build $bin first (make build)"; exit 1; }

echo "bench-sip: $PAIRS sipp pairs, $REGS REGISTER and $CALLS calls per client, offered $RATE/s per client, UDP loopback"
s=$(bench_one sipproxy); k=$(bench_one kamailio)
set -- $s $k
printf '%-22s %12s %12s %8s\n' "" sipproxy kamailio ratio
printf '%-22s %12s %12s %8.2f\n' "REGISTER/s" "$1" "$5" "$(echo "$1 / $5" | bc -l)"
printf '%-22s %12s %12s\n' "REGISTER failed" "$2" "$6"
printf '%-22s %12s %12s %8.2f\n' "calls/s" "$3" "$7" "$(echo "$3 / $7" | bc -l)"
printf '%-22s %12s %12s\n' "calls failed" "$4" "$8"
