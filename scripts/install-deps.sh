#!/usr/bin/env bash
# Installs, idempotently and only what is missing, what the tests use:
# Debian's rtpengine (the reference NG daemon) and rtpengine-ctl, sipp,
# Kamailio with its WebSocket modules (server, and the lwsc client its
# rtpengine module uses for ws:// daemons), nftables, Chromium, iproute2 (netns),
# util-linux (unshare, setpriv), openssl (make run's certificate) and gcc
# with libc6-dev (cgo, which `go test -race` needs); then node packages
# from the committed lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(rtpengine-daemon rtpengine-utils sip-tester kamailio kamailio-websocket-modules kamailio-lwsc-modules nftables chromium iproute2 procps util-linux openssl gcc libc6-dev)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing ${missing[*]}; run as root" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian packages start their services; the tests run their own instances.
for svc in rtpengine-daemon ngcp-rtpengine-daemon kamailio; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
	fi
done

if [ -f e2e/web/package-lock.json ]; then
	if [ ! -d e2e/web/node_modules ] || [ e2e/web/package-lock.json -nt e2e/web/node_modules ]; then
		(cd e2e/web && npm ci --no-audit --no-fund --silent)
		touch e2e/web/node_modules
	fi
fi
echo "install-deps: ok"
