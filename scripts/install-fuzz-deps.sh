#!/usr/bin/env bash
# Installs what `make fuzz` needs beyond scripts/install-deps.sh, only what is missing: clang 14
# with its sanitizer and libFuzzer runtimes, LLVM's OpenMP runtime for clang builds, and
# llvm-symbolizer (in llvm-14) for readable sanitizer reports. Debian 12 packages.
set -euo pipefail

packages=(clang-14 libclang-rt-14-dev libomp-14-dev llvm-14)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-fuzz-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-fuzz-deps: run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
${SUDO:-} apt-get update -qq
DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq --no-install-recommends "${missing[@]}"
