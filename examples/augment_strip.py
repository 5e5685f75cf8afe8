"""Make docs/augment_strip.png: one demo avatar, its HED edge map, and that edge map under several sketch
augmentations (what `icanvas train` feeds the generator instead of the plain edges).

    python examples/augment_strip.py [--root ROOT]    # ROOT holds (or will fetch) the HED weights
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from icanvas.data.demo import make_avatar
from icanvas.edges.pipeline import EdgeDetector, EdgeSettings
from icanvas.core.images import save_png
from icanvas.core.paths import resolve_root
from icanvas.sketch.augment import augment_sketch

OUT = Path(__file__).resolve().parents[1] / "docs" / "augment_strip.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="icanvas root with the HED weights")
    parser.add_argument("--count", type=int, default=6, help="augmented versions to show")
    args = parser.parse_args()
    photo = make_avatar(0, 3)
    edges = EdgeDetector(resolve_root(args.root), EdgeSettings(size=256))(photo)
    variants = [augment_sketch(edges, np.random.default_rng(seed)) for seed in range(args.count)]
    gap = np.full((256, 6, 3), 255, np.uint8)
    tiles = [photo, gap, np.repeat(edges[..., None], 3, 2)]
    for v in variants:
        tiles += [gap, np.repeat(v[..., None], 3, 2)]
    save_png(np.concatenate(tiles, axis=1), OUT)
    print(OUT)


if __name__ == "__main__":
    main()
