"""`icanvas edges` with its defaults reproduces the pix2pix authors' own edges on 120 edges2shoes pairs."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from edges_quality import evaluate_cli, load_pairs  # noqa: E402


def test_defaults_reach_f_085_against_the_authors_edges(hed_root, shared_dir, tmp_path):
    pairs = load_pairs(shared_dir / "data" / "edges2shoes_120")
    assert len(pairs) == 120
    result = evaluate_cli(hed_root, pairs, tmp_path)
    print(f"F {result['f']:.4f}  P {result['precision']:.4f}  R {result['recall']:.4f}  {result['seconds']:.1f} s")
    assert result["f"] >= 0.85
