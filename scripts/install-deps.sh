#!/usr/bin/env bash
# Installs a set of Debian packages, only those that are missing:
#   install-deps.sh [build]  what the build and its tests need (make deps, make test): the
#                            compilers and libraries, OpenMPI (data-parallel training and its
#                            2-rank tests) and Fashion-MNIST (those tests train on it)
#   install-deps.sh train    the default training job's dataset (make train): Fashion-MNIST,
#                            Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)
#   install-deps.sh fuzz     what `make fuzz` needs beyond the build: clang 14 with its sanitizer
#                            and libFuzzer runtimes, LLVM's OpenMP runtime for clang builds, and
#                            llvm-symbolizer (in llvm-14) for readable sanitizer reports
# The CUDA toolkit (nvcc, cuBLAS, cuDNN) is optional and not installed here: the build uses it
# when nvcc is on PATH or in /usr/local/cuda.
set -euo pipefail

case "${1:-build}" in
  build) packages=(cmake make g++ doctest-dev nlohmann-json3-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev
                  openmpi-bin libopenmpi-dev dataset-fashion-mnist) ;;
  train) packages=(dataset-fashion-mnist) ;;
  fuzz) packages=(clang-14 libclang-rt-14-dev libomp-14-dev llvm-14) ;;
  *)
    echo "install-deps: unknown package set '$1' (build, train or fuzz)" >&2
    exit 2
    ;;
esac

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
