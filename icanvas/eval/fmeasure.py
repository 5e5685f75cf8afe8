"""The tolerant F-measure between two edge maps: how well predicted lines lie on reference lines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt


@dataclass(frozen=True)
class EdgeScore:
    precision: float
    recall: float
    f: float


def _near(mask: np.ndarray, target: np.ndarray, tol: float) -> float:
    """Share of `mask` pixels within `tol` px of a `target` pixel (1.0 when `mask` is empty)."""
    if not mask.any():
        return 1.0
    if not target.any():
        return 0.0
    dist = distance_transform_edt(~target)
    return float((dist[mask] <= tol).mean())


def tolerant_f(pred: np.ndarray, ref: np.ndarray, tol: float = 2.0) -> EdgeScore:
    """pred, ref: boolean HxW edge masks (True = edge). Precision: predicted pixels near a reference pixel;
    recall: reference pixels near a predicted pixel; F: their harmonic mean."""
    pred, ref = np.asarray(pred, bool), np.asarray(ref, bool)
    if pred.shape != ref.shape:
        raise ValueError(f"edge maps differ in shape: {pred.shape} vs {ref.shape}")
    p, r = _near(pred, ref, tol), _near(ref, pred, tol)
    f = 0.0 if p + r == 0 else 2 * p * r / (p + r)
    return EdgeScore(p, r, f)


def edge_mask(drawing: np.ndarray, level: int = 128) -> np.ndarray:
    """Dark lines on light paper (uint8 HxW) to a boolean edge mask."""
    return np.asarray(drawing) < level
