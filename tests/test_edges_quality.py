"""`icanvas edges` with its defaults reproduces the pix2pix authors' own edges on 120 edges2shoes pairs."""

from __future__ import annotations

import pytest

from icanvas.eval.edges_quality import evaluate_cli, load_pairs

# `icanvas edges` in a subprocess on 120 real photos: about 90 s on 2 cores
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_defaults_reach_f_085_against_the_authors_edges(hed_root, shared_dir, tmp_path):
    pairs = load_pairs(shared_dir / "data" / "edges2shoes_120")
    assert len(pairs) == 120
    result = evaluate_cli(hed_root, pairs, tmp_path)
    print(f"F {result['f']:.4f}  P {result['precision']:.4f}  R {result['recall']:.4f}  {result['seconds']:.1f} s")
    assert result["images"] == 120
    assert result["f"] >= 0.85
