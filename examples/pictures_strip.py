"""The README's strip of hand-drawn sketches and the pictures the main job's model drew from them, one row per
folder (the line drawings, then colour/: the same kind of drawings with crayon colour); with --variations, each
sketch's other colouring (NAME_v1.png) beside its picture:

    python examples/pictures_strip.py --sketches examples/sketches --generated icanvas-home/generated \
        --variations icanvas-home/variations -o docs/main_job_pictures.png
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
    ap.add_argument("--variations", type=Path, help="a folder of NAME_v1.png: another colouring of each")
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--side", type=int, default=128)
    args = ap.parse_args()
    rows: dict[Path, list[np.ndarray]] = {}
    for sketch in find_images([args.sketches]):
        name = sketch.relative_to(args.sketches).with_suffix("")
        paths = [sketch, args.generated / f"{name}.png"]
        if args.variations is not None:
            paths.append(args.variations / f"{name}_v1.png")
        for path in paths:
            cell = Image.fromarray(load_rgb(path)).resize((args.side, args.side), Image.Resampling.LANCZOS)
            rows.setdefault(name.parent, []).append(np.asarray(cell))
    width = max(len(cells) for cells in rows.values()) * args.side
    strips = [np.concatenate(rows[folder], axis=1) for folder in sorted(rows)]   # the top folder first
    save_png(np.concatenate([np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)), constant_values=255)
                             for s in strips]), args.out)


if __name__ == "__main__":
    main()
