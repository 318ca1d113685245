#!/usr/bin/env bash
# Install what building and testing hbd needs on a Debian 12 machine (root).
set -euo pipefail
pkgs=(build-essential pkg-config systemd-container iproute2 iptables socat curl dbus procps
      python3 iputils-ping tcpdump util-linux passwd)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
    [[ -x $HOME/.cargo/bin/cargo ]] && export PATH=$HOME/.cargo/bin:$PATH
fi
if ! command -v cargo >/dev/null; then
    echo "installing Debian's cargo (hbd needs Rust 1.85 or newer)"
    apt-get install -y -qq cargo rustc >/dev/null
fi
