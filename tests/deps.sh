#!/usr/bin/env bash
# Install what building and testing hbd needs on a Debian 12 machine (root).
set -euo pipefail
pkgs=(build-essential pkg-config systemd-container iproute2 iptables socat curl dbus procps
      python3 iputils-ping tcpdump util-linux passwd
      # the Cockpit page's test (tests/lab/cockpit.sh) and package (tests/deb/run.sh)
      cockpit-ws cockpit-bridge cockpit-system chromium chromium-driver python3-selenium)
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
# hbd's dependencies need Rust 1.85 or newer; Debian 12's own rustc is 1.63.
rust_ok() {
    local v
    v=$(rustc --version 2>/dev/null | awk '{print $2}') || return 1
    [[ -n $v ]] && printf '1.85.0\n%s\n' "${v%%-*}" | sort -V -C
}
if ! rust_ok; then
    echo "no Rust 1.85 or newer found; installing it with rustup (https://rustup.rs) into $HOME/.cargo"
    if curl -sSf --max-time 60 https://sh.rustup.rs | sh -s -- -y -q --profile minimal --component rustfmt,clippy >/dev/null &&
        export PATH=$HOME/.cargo/bin:$PATH && rust_ok; then
        echo "installed $(rustc --version)"
    else
        echo "cannot install Rust: hbd needs Rust 1.85 or newer (Debian 12's rustc is 1.63)." >&2
        echo "Install it with rustup (https://rustup.rs), or put cargo 1.85+ on PATH, then run this again." >&2
        exit 1
    fi
fi
