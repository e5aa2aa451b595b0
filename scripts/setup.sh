#!/usr/bin/env bash
# Installs what ovpn-ts needs to build and run, once: npm packages, and the Debian tools the demo,
# tests and benchmarks drive (iproute2, iputils-ping, iperf3, tcpdump, openssl, openvpn, nftables). Safe to run
# again: it only installs what is missing. Needs root for the Debian part (the demo and tests do too).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/koffi ] || [ ! -x node_modules/.bin/tsc ]; then
  # `npm ci` refuses this lock file because the registry reachable here lacks Biome's binaries for
  # other platforms (optional dependencies); `npm install` honours the lock and skips them.
  npm install --no-audit --no-fund
fi

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v openssl >/dev/null || need+=(openssl)
command -v openvpn >/dev/null || need+=(openvpn)
command -v nft >/dev/null || need+=(nftables)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: not root, so not installing ${need[*]} (the netns demo, tests and benchmarks need root anyway)" >&2
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
