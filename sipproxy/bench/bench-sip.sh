#!/bin/sh
# bench-sip.sh: REGISTER rate and call rate (INVITE/100/180/200/ACK/BYE,
# no media) through sipproxy and through Kamailio 5.6 configured with the
# same routing (kamailio.cfg, 2 children), with the same sipp scenarios and
# PAIRS sipp clients (and, for calls, PAIRS callee UAS) on UDP loopback.
# Prints both side by side with the ratio sipproxy/Kamailio.
#   usage: bench-sip.sh [path/to/sipproxy]
#   env:   PAIRS (3) REGS per client (15000) RRATE per client (4000/s)
#          CALLS per pair (3000) CRATE per pair (400/s) ROUNDS (2)
#          KEEP=file (sipp errors) PARTS ("reg calls"; "reg" or "calls" for one)
# On 2 cores sipp itself takes most of the CPU: the figures are for the
# whole loopback setup and the failure counts matter as much as the rates.
# The two proxies run alternately ROUNDS times; each figure is the best
# round (failures: of that round), which damps noise from other processes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../bin/sipproxy}
PAIRS=${PAIRS:-3}
REGS=${REGS:-15000}
RRATE=${RRATE:-4000}
CALLS=${CALLS:-3000}
CRATE=${CRATE:-400}
ROUNDS=${ROUNDS:-2}
PARTS=${PARTS:-reg calls}
work=$(mktemp -d)
pids=""
# Every process started here is listed in $work/pids (bench_one runs in a
# subshell, so a variable would not reach the trap).
cleanup() {
	for p in $(cat "$work/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start_proxy() { # NAME PORT
	if [ "$1" = sipproxy ]; then
		"$bin" --listen=udp:127.0.0.1:$2 --mgmt= --log-level=error >"$work/sipproxy.log" 2>&1 &
		pids="$pids $!"; echo $! >>"$work/pids"; sleep 0.5
	else
		sed "s/PORT/$2/g" "$here/kamailio.cfg" >"$work/kamailio.cfg"
		kamailio -f "$work/kamailio.cfg" -DD -E -m 256 -M 32 >"$work/kamailio.log" 2>&1 &
		pids="$pids $!"; echo $! >>"$work/pids"; sleep 1
	fi
}
stop_proxy() { for p in $pids; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=""; }

# sipp's socket buffers: its default, 64 KiB, is below the kernel's, and a
# sipp sharing two cores with the proxy dropped replies on it (see
# e2e/README.md, "Calls benchmark"); the kernel caps this at rmem_max.
SIPP_BUFFER=4194304

# clients COUNT RATE ARGS...: PAIRS sipp clients in parallel (@i@ in ARGS is
# the client index); sets ok, bad (sums of sipp's counters) and secs.
clients() {
	count=$1; rate=$2; shift 2
	start=$(date +%s.%N); i=0; cp=""
	while [ $i -lt "$PAIRS" ]; do
		args=$(echo "$@" | sed "s/@i@/$i/g")
		# shellcheck disable=SC2086
		sipp $args -i 127.0.0.1 -p "$(port)" -mp "$(port)" -m "$count" -r "$rate" -l 3000 -nostdin -timeout 100s -recv_timeout 20s -buff_size "$SIPP_BUFFER" \
			-trace_stat -fd 1 -stf "$work/stat.$i.csv" -trace_err -error_file "$work/err.$i.log" >/dev/null 2>&1 &
		cp="$cp $!"; echo $! >>"$work/pids"; i=$((i+1))
	done
	for c in $cp; do wait "$c" || true; done
	secs=$(echo "$(date +%s.%N) - $start" | bc -l)
	ok=0; bad=0
	for f in "$work"/stat.*.csv; do
		line=$(tail -1 "$f")
		ok=$((ok + $(echo "$line" | awk -F';' '{print $16}')))
		bad=$((bad + $(echo "$line" | awk -F';' '{print $18}')))
	done
	bad=$((bad + PAIRS * count - ok - bad))   # calls never completed count as failed
	if [ -n "${KEEP:-}" ]; then cat "$work"/err.*.log >>"$KEEP" 2>/dev/null || true; fi
	rm -f "$work"/stat.*.csv "$work"/err.*.log
}

bench_one() { # NAME -> "reg_rate reg_fail call_rate call_fail"
	p=$(port)
	start_proxy "$1" "$p"
	reg_rate=0; reg_fail=0; call_rate=0; call_fail=0
	case " $PARTS " in *" reg "*)
		clients "$REGS" "$RRATE" -sf "$here/register.xml" "127.0.0.1:$p"
		reg_rate=$(echo "$ok / $secs" | bc -l); reg_fail=$bad
	esac
	case " $PARTS " in *" calls "*) bench_calls "$p"; esac
	stop_proxy
	printf '%.0f %s %.0f %s\n' "$reg_rate" "$reg_fail" "$call_rate" "$call_fail"
}

bench_calls() { # PORT: sets call_rate, call_fail
	p=$1
	i=0; uas=""
	while [ $i -lt "$PAIRS" ]; do
		up=$(port)
		sipp -sf "$here/register_one.xml" -s "b$i" -i 127.0.0.1 -p "$up" -m 1 -nostdin "127.0.0.1:$p" >/dev/null 2>&1 || true
		sipp -sf "$here/uas.xml" -key user "b$i" -i 127.0.0.1 -p "$up" -mp "$(port)" -nostdin -buff_size "$SIPP_BUFFER" >/dev/null 2>&1 &
		uas="$uas $!"; echo $! >>"$work/pids"; i=$((i+1))
	done
	clients "$CALLS" "$CRATE" -sf "$here/../test/scenarios/uac_call_ringing.xml" -key user b@i@ "127.0.0.1:$p"
	call_rate=$(echo "$ok / $secs" | bc -l); call_fail=$bad
	for u in $uas; do kill "$u" 2>/dev/null || true; wait "$u" 2>/dev/null || true; done
}

command -v sipp >/dev/null || { echo "sipp missing (make deps)"; exit 1; }
command -v kamailio >/dev/null || { echo "kamailio missing (make deps)"; exit 1; }
[ -x "$bin" ] || { echo "build $bin first (make build)"; exit 1; }

echo "bench-sip: UDP loopback, $PAIRS sipp clients; REGISTER $REGS x $PAIRS offered ${RRATE}/s each;" \
	"calls $CALLS x $PAIRS pairs offered ${CRATE}/s each (INVITE/100/180/200/ACK/BYE, RR, 100 ms hold)"
best() { # "cur" "new" -> keeps, field by field, the higher rate with its failures
	if [ -z "$1" ]; then echo "$2"; return; fi
	set -- $1 $2
	r1=$1 f1=$2 r2=$3 f2=$4
	[ "$5" -gt "$r1" ] && { r1=$5; f1=$6; }
	[ "$7" -gt "$r2" ] && { r2=$7; f2=$8; }
	echo "$r1 $f1 $r2 $f2"
}
s=""; k=""; n=0
while [ $n -lt "$ROUNDS" ]; do
	s=$(best "$s" "$(bench_one sipproxy)")
	k=$(best "$k" "$(bench_one kamailio)")
	n=$((n+1))
done
ratio() { if [ "$2" -gt 0 ]; then printf '%.2f' "$(echo "$1 / $2" | bc -l)"; else echo -; fi; }
set -- $s $k
printf '%-18s %10s %10s %7s\n' "best of $ROUNDS" sipproxy kamailio ratio
printf '%-18s %10s %10s %7s\n' "REGISTER/s" "$1" "$5" "$(ratio "$1" "$5")"
printf '%-18s %10s %10s\n' "REGISTER failed" "$2" "$6"
printf '%-18s %10s %10s %7s\n' "calls/s" "$3" "$7" "$(ratio "$3" "$7")"
printf '%-18s %10s %10s\n' "calls failed" "$4" "$8"
