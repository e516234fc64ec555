#!/usr/bin/env bash
# Installs the Debian packages the build needs, only those that are missing.
# `install-deps.sh train` installs the default training job's dataset instead (make train):
# Fashion-MNIST, Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
# The CUDA toolkit (nvcc, cuBLAS, cuDNN) is optional and not installed here: the build uses it
# when nvcc is on PATH or in /usr/local/cuda.
set -euo pipefail

packages=(cmake make g++ doctest-dev nlohmann-json3-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev)
if [ "${1:-}" = train ]; then packages=(dataset-fashion-mnist); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-deps: run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
${SUDO:-} apt-get update -qq
DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq --no-install-recommends "${missing[@]}"
