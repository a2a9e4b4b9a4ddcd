#!/usr/bin/env bash
# Installs the Debian packages the build needs, when any is missing.
#   usage: scripts/deps.sh [--fuzz]    (--fuzz also makes sure clang is there)
set -euo pipefail
pkgs=(build-essential cmake pkg-config liblmdb-dev libraptor2-dev libcjson-dev libopenblas-dev
      libcurl4-gnutls-dev zlib1g-dev libbz2-dev nettle-dev libutf8proc-dev python3)
[ "${1:-}" = "--fuzz" ] && pkgs+=(clang)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
