#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when missing.
# Safe to run repeatedly; needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(libssl-dev libnghttp2-dev pkg-config python3 python3-venv curl openssl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
    $sudo apt-get update -q >/dev/null
    $sudo apt-get install -y -q "${missing[@]}" >/dev/null
  }
fi
if ! command -v swift >/dev/null 2>&1; then
  echo "install-deps: no 'swift' on PATH (Swift 6.3 toolchain required, e.g. /opt/swift/usr/bin)" >&2
  exit 1
fi
