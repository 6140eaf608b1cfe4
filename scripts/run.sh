#!/usr/bin/env bash
# make run: starts mediad (and sipproxy once it is implemented) on loopback with
# defaults. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

bin/mediad --config-file=none -i 127.0.0.1 -n 127.0.0.1:22222 -c 127.0.0.1:9900 -m 30000 -M 40000 -f -E &
pids+=($!)
echo "mediad: NG udp 127.0.0.1:22222, CLI 127.0.0.1:9900, media ports 30000-40000"
if bin/sipproxy --help >/dev/null 2>&1; then
	bin/sipproxy --listen=udp:127.0.0.1:5060 --listen=tcp:127.0.0.1:5060 --listen=tls:127.0.0.1:5061 \
		--listen=ws:127.0.0.1:8080 --listen=wss:127.0.0.1:8443 --rtpengine-sock=udp:127.0.0.1:22222 &
	pids+=($!)
fi
echo "Ctrl-C stops everything."
wait -n "${pids[@]}"
