#!/usr/bin/env bash
# make run: starts mediad and sipproxy on loopback with defaults, sipproxy
# driving mediad over NG, plus the demo softphone page over HTTPS.
# MEDIA=rtpengine uses Debian's rtpengine instead of mediad; BIN=dir takes
# the binaries from dir instead of bin/ (the run files go to dir/run);
# AUTH=FILE turns on digest authentication with that users file
# (user:password lines, sipproxy --auth-users).
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

# ready NAME PID PORT...: waits until every port accepts TCP on 127.0.0.1;
# gives up when the process has exited (a port taken, say) or after 10 s.
ready() {
	local name=$1 pid=$2 port i
	shift 2
	for port in "$@"; do
		for ((i = 0; ; i++)); do
			(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
			if ! kill -0 "$pid" 2>/dev/null; then
				echo "$name exited during startup" >&2
				exit 1
			fi
			if ((i == 100)); then
				echo "$name does not listen on 127.0.0.1:$port after 10 s" >&2
				exit 1
			fi
			sleep 0.1
		done
	done
}

# One self-signed certificate for WSS, TLS and the demo page, so a browser
# that accepts it once can use both the page and the WebSocket.
bin=${BIN:-bin}
run=$bin/run
mkdir -p "$run"
if [ ! -s "$run/cert.pem" ] || [ ! -s "$run/key.pem" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
		-keyout "$run/key.pem" -out "$run/cert.pem" 2>/dev/null
fi
# The demo page's JsSIP, bundled from npm (make deps installs it).
demo=()
if [ -x e2e/web/node_modules/.bin/esbuild ] && [ -d e2e/web/node_modules/jssip ]; then
	e2e/web/node_modules/.bin/esbuild e2e/web/node_modules/jssip/lib/JsSIP.js --bundle --format=iife \
		--global-name=JsSIP --minify --log-level=warning --outfile="$run/jssip.min.js"
	demo=(--http-demo=127.0.0.1:8444 "--http-demo-jssip=$run/jssip.min.js")
else
	echo "demo page off: run 'make deps' (npm packages in e2e/web) first"
fi

# MEDIA=rtpengine runs Debian's rtpengine instead of mediad (same options).
media=${MEDIA:-mediad}
mediabin=$bin/mediad
[ "$media" = rtpengine ] && mediabin=/usr/bin/rtpengine
"$mediabin" --config-file=none -i 127.0.0.1 -n 127.0.0.1:22222 -c 127.0.0.1:9900 -m 30000 -M 40000 -f -E &
pids+=($!)
# Its CLI port accepting means it has started, NG socket bound, so
# sipproxy's first health ping gets an answer.
ready "$media" "$!" 9900
auth=()
password="no password"
if [ -n "${AUTH:-}" ]; then
	auth=("--auth-users=$AUTH")
	password="the password in $AUTH"
fi
"$bin/sipproxy" "${auth[@]}" --listen=udp:127.0.0.1:5060 --listen=tcp:127.0.0.1:5060 --listen=tls:127.0.0.1:5061 \
	--listen=ws:127.0.0.1:8080 --listen=wss:127.0.0.1:8443 --rtpengine-sock=udp:127.0.0.1:22222 \
	--tls-certificate="$run/cert.pem" --tls-private-key="$run/key.pem" "${demo[@]}" &
pids+=($!)
ports=(5060 5061 8080 8443)
[ ${#demo[@]} -gt 0 ] && ports+=(8444)
ready sipproxy "$!" "${ports[@]}"
cat <<TXT

media:    $media, NG udp 127.0.0.1:22222, CLI 127.0.0.1:9900, media ports 30000-40000
sipproxy: udp+tcp 127.0.0.1:5060, tls 5061, ws 8080, wss 8443 (self-signed, $run/cert.pem),
          media through $media; registrations: $bin/sipproxy ctl list

Browser:  open https://127.0.0.1:8444/ (demo softphone, JsSIP), accept the certificate,
          keep wss://127.0.0.1:8443, register as alice ($password), call bob.
          (Your own JsSIP/SIP.js page: WebSocket wss://127.0.0.1:8443, URI sip:alice@127.0.0.1.)
Phone:    any SIP phone on UDP: account bob@127.0.0.1, proxy/registrar 127.0.0.1:5060,
          $password, plain RTP (PCMU/PCMA); or a second browser tab registered as bob.
Ctrl-C stops everything.
TXT
wait -n "${pids[@]}"
