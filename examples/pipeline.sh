#!/usr/bin/env bash
# A real theme from download to service on a machine with NVIDIA GPUs, with the product team's settings
# (batch size and epochs from the theme table) and the flags a GPU user wants.
#
#   GPUS=4 SKETCHES=~/sketches/shoes examples/pipeline.sh shoes [ROOT]
#
# SKETCHES is a folder of hand drawings of the theme (compare picks the checkpoint that follows them best).
# Kaggle themes need KAGGLE_USERNAME/KAGGLE_KEY; `car` needs the DVM files downloaded by hand (fetch explains).
set -euo pipefail
theme=${1:?usage: pipeline.sh THEME [ROOT]}
root=${2:-${ICANVAS_HOME:-./icanvas-home}}
gpus=${GPUS:-1}
sketches=${SKETCHES:?set SKETCHES to a folder of hand drawings of the theme}
icanvas() { command icanvas --root "$root" "$@"; }
on_gpus() { torchrun --standalone --nproc_per_node "$gpus" -m icanvas --root "$root" "$@"; }

icanvas fetch "$theme"
icanvas fetch hed
case "$theme" in
  shoes|handbags) ;;   # these come as A|B pairs: fetch already wrote the authors' edges
  *) on_gpus edges --theme "$theme" --device cuda --batch-size 16 --workers 6 ;;
esac
icanvas pair --theme "$theme" --val 0.02 --test 0.02
on_gpus train --theme "$theme" --run main --device cuda --amp --workers 8 --save-every 1
icanvas compare "$root/runs/$theme/main" --sketches "$sketches" --pairs "$root/data/$theme/pairs/test" \
  -o "$root/reports/$theme" --select --device cuda
icanvas generate "$sketches" --theme "$theme" -o "$root/generated/$theme" --device cuda
echo "report: $root/reports/$theme/index.html; serve with: icanvas --root $root serve --theme $theme --device cuda"
