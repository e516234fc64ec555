#!/usr/bin/env bash
# For a GPU machine that lacks the build's packages: builds soft and soft_tests here for Hopper
# (sm_90, without MPI, so they need no libmpi there) into build-cuda, and gathers in one folder
# what scripts/gpu-check.sh --prebuilt takes: both binaries, and the Fashion-MNIST files for its
# bf16-vs-fp32 step. Copy that folder beside the repository on the GPU machine and run there:
#
#   bash scripts/gpu-check.sh --quick --prebuilt build-cuda/prebuilt
#
#   bash scripts/prepare-gpu-check.sh [ARCH]      # ARCH: CMAKE_CUDA_ARCHITECTURES, default 90
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-90}
out=build-cuda/prebuilt
cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DSOFT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" -DSOFT_MPI=OFF \
  $(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
cmake --build build-cuda -j "$(nproc)" --target soft_tests soft_cli
mkdir -p "$out"
cp build-cuda/soft build-cuda/tests/soft_tests "$out/"
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  cp -r /usr/share/datasets/fashion-mnist "$out/"
else
  echo "prepare-gpu-check: no Fashion-MNIST here (apt-get install dataset-fashion-mnist): gpu-check skips bf16 vs fp32"
fi
du -sh "$out"
echo "copy $out to the GPU machine (same path in the repository) and run there:"
echo "  bash scripts/gpu-check.sh --quick --prebuilt $out"
