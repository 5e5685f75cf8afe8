"""The README's strip of hand-drawn sketches and the pictures the main job's model drew from them:

    python examples/pictures_strip.py --sketches examples/sketches --generated icanvas-home/generated \
        -o docs/main_job_pictures.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from icanvas.core.images import find_images, load_rgb, save_png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sketches", type=Path, required=True)
    ap.add_argument("--generated", type=Path, required=True)
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--side", type=int, default=128)
    args = ap.parse_args()
    cells = []
    for sketch in find_images([args.sketches]):
        for path in (sketch, args.generated / f"{sketch.stem}.png"):
            cells.append(np.asarray(Image.fromarray(load_rgb(path)).resize((args.side, args.side),
                                                                             Image.Resampling.LANCZOS)))
    save_png(np.concatenate(cells, axis=1), args.out)


if __name__ == "__main__":
    main()
