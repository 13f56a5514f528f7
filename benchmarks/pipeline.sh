#!/usr/bin/env bash
# camapp bench pipeline for SSD-MobileNet V1 and MobileNet V2, RUNS times each in one sitting, then
# the medians (benchmarks/medians.py). What benchmarks/RESULTS.md shows.
#   bash benchmarks/pipeline.sh [OUT_DIR]          # defaults: 3 runs, threads auto (1, 2, 4 ... up to the cores), 300 frames x 3 rounds
#   RUNS=5 bash benchmarks/pipeline.sh /tmp/bench   # e.g. on a 4-core Raspberry Pi
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/out}
mkdir -p "$out"
video=${VIDEO:-../shared/videos/one-by-one-person-detection.mp4}
camapp=${CAMAPP:-camapp}
python=${PYTHON:-python3}
for model in ssd_mobilenet_v1_coco_quant mobilenet_v2_1.0_224_quant; do
  files=()
  for i in $(seq 1 "${RUNS:-3}"); do
    f="$out/pipeline_${model}_$i.json"
    "$camapp" bench pipeline --source "$video" --model "$model" --threads "${THREADS:-auto}" \
      --frames "${FRAMES:-300}" --rounds "${ROUNDS:-3}" --realtime --live-frames "${LIVE_FRAMES:-200}" --json "$f" >/dev/null
    files+=("$f")
  done
  "$python" benchmarks/medians.py "${files[@]}" --json "$out/pipeline_${model}_median.json" --markdown "$out/pipeline_${model}_median.md"
done
