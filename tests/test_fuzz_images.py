"""Fuzzing the one image decoder, the sketch normaliser and the HTTP endpoint with mutated PNG, JPEG, WebP and GIF
bytes: decoding succeeds or raises UnsupportedImage/TooLarge, normalising succeeds or raises BadInput (a blank
drawing), and the service answers a picture or a 4xx, never a 5xx.

CI runs a fixed seed and a bounded number of examples. A long campaign, e.g. 20,000 examples per test:

    ICANVAS_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz_images.py --timeout 0
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from icanvas.core.errors import BadInput, TooLarge, UnsupportedImage
from icanvas.core.images import load_rgb
from icanvas.server.app import create_app
from icanvas.sketch.normalize import normalize_sketch
from servekit import drawing, install_tiny_model

EXAMPLES = int(os.environ.get("ICANVAS_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _encoded(fmt: str) -> bytes:
    img = Image.fromarray(drawing(side=48))
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 80} if fmt in ("JPEG", "WEBP") else {}))
    return buf.getvalue()


SEEDS = {fmt: _encoded(fmt) for fmt in ("PNG", "JPEG", "WEBP", "GIF")}


@st.composite
def mutated(draw) -> bytes:
    """A real picture's bytes with a few bytes flipped, a slice cut out or repeated, or cut short."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "cut", "repeat", "truncate"]))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 64))]
        else:
            del data[max(1, at):]
        if not data:
            break
    return bytes(data)


@FUZZ
@given(mutated())
def test_decoding_succeeds_or_says_why(data):
    try:
        rgb = load_rgb(data, name="fuzz", max_pixels=4_000_000)
    except (UnsupportedImage, TooLarge) as exc:
        assert str(exc).startswith("fuzz: ")
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    try:
        sketch = normalize_sketch(rgb, 64)
    except BadInput as exc:
        assert "empty sketch" in str(exc)
        return
    assert sketch.shape == (64, 64) and sketch.dtype == np.uint8


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_root")
    install_tiny_model(root, "demo", size=32)
    with TestClient(create_app(root)) as c:
        yield c


@FUZZ
@given(mutated())
def test_the_service_answers_a_picture_or_a_4xx(client, data):
    answer = client.post("/v1/generate", files={"sketch": ("drawing", data, "application/octet-stream")},
                         data={"theme": "demo"})
    assert answer.status_code == 200 or 400 <= answer.status_code < 500, answer.text
    if answer.status_code != 200:
        assert set(answer.json()) == {"error", "detail"}
