#!/usr/bin/env bash
# camapp bench models over every model in the shared folder, threads 1 and 2, with the five shared
# test images as a labelled set (a smoke check of accuracy, not ImageNet top-1), plus the plot.
#   bash benchmarks/models.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/out}
images=${IMAGES:-../shared/images}
mkdir -p "$out"
set_dir=$(mktemp -d)
trap 'rm -rf "$set_dir"' EXIT
# One folder per expected ImageNet label, holding a link to the image (nothing is copied).
link() { mkdir -p "$set_dir/$2"; ln -s "$(realpath "$images/$1")" "$set_dir/$2/$1"; }
link grace_hopper.bmp "military uniform"
link cat.bmp "Egyptian cat"
link parrot.jpg macaw
link bird.bmp chickadee
link hot_dog.jpg hotdog
"${CAMAPP:-camapp}" bench models \
  mobilenet_v1_0.25_128_quant mobilenet_v1_0.5_160_quant mobilenet_v1_0.75_192_quant \
  mobilenet_v2_1.0_224_quant mobilenet_v2_1.0_224_quant_tfhub tf2_mobilenet_v2_1.0_224_ptq \
  mobilenet_v3_small_1.0_224_uint8 ssd_mobilenet_v1_coco_quant \
  --threads "${THREADS:-1,2}" --runs "${RUNS:-100}" --images "$set_dir" \
  --csv "$out/models.csv" --json "$out/models.json" --markdown "$out/models.md" --plot "$out/models.png"
