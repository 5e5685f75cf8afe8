"""The README's main job, reduced: the whole life cycle on a small demo theme, end to end through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SKETCHES = sorted((REPO / "examples" / "sketches").glob("*.png"))


def test_main_job_runs_every_stage_and_reports_it(hed_root, tmp_path):
    root = tmp_path / "home"
    shutil.copytree(hed_root / "weights", root / "weights")    # the weights, fetched once per machine
    env = dict(os.environ, DEMO_PHOTOS="32", DEMO_EPOCHS="4", DEMO_WIDTH="16",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", str(REPO / "examples" / "main_job.sh"), str(root)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr

    data = root / "data" / "demo"
    assert len(list((data / "photos").glob("*.png"))) == 32
    assert len(list((data / "edges").glob("*.png"))) == 32
    assert len(list(data.glob("pairs/*/*.png"))) == 32
    metrics = [json.loads(line) for line in (root / "runs" / "demo" / "main" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2, 3, 4]

    model = json.loads((root / "models" / "demo" / "model.json").read_text())
    assert model["theme"] == "demo" and model["generator"]["size"] == 128 and model["run"] == "main"
    for sketch in SKETCHES:                       # a 128 px colour picture for every hand-drawn sketch
        picture = np.asarray(Image.open(root / "generated" / sketch.name))
        assert picture.shape == (128, 128, 3) and picture.std() > 1

    report = (root / "report.html").read_text()
    for stage in ("1. fetch", "2. edges", "3. pair", "4. train", "5. compare", "6. generate"):
        assert stage in report
    assert report.count("<img") >= 2 * 8 + 2 * len(SKETCHES)   # photos, edges, sketch + picture pairs
