"""The README's main job, reduced: the whole life cycle on a small demo theme, end to end through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from icanvas.core.images import load_rgb
from icanvas.eval.compare import picture_problem
from icanvas.inference.painter import Painter

# the whole life cycle in subprocesses, training included: about 40 s on 2 idle cores
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SKETCHES = sorted((REPO / "examples" / "sketches").glob("*.png"))
COLOURED = sorted((REPO / "examples" / "sketches" / "colour").glob("*.png"))   # the same, with crayon colour


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
    # the installed model is one of the run's checkpoints: an epoch the run trained and saved, and compare chose it
    assert isinstance(model["epoch"], int) and model["epoch"] in [m["epoch"] for m in metrics]
    assert (root / "runs" / "demo" / "main" / "checkpoints" / f"epoch_{model['epoch']:04d}.safetensors").is_file()
    assert (root / "models" / "demo" / "generator.safetensors").is_file()
    chosen = json.loads((root / "reports" / "compare" / "metrics.json").read_text())
    assert chosen["selected"] == str(root / "models" / "demo")
    assert chosen["winner"] == f"main/epoch_{model['epoch']:04d}"

    # a 128 px colour picture for every hand-drawn sketch, none degenerate (flat, grey mush or the sketch copied
    # through: compare's guard, against the sketch as the model sees it), and not all the same picture
    painter = Painter.from_pretrained(root / "models" / "demo", device="cpu")
    assert sorted(p.name for p in (root / "generated").glob("*.png")) == [s.name for s in SKETCHES]
    assert sorted(p.name for p in (root / "generated" / "colour").glob("*.png")) == [s.name for s in COLOURED]
    assert model["generator"]["hints"] and COLOURED                            # the main job trains with hints
    pictures = []
    for sketch in SKETCHES:
        picture = np.asarray(Image.open(root / "generated" / sketch.name))
        assert picture.shape == (128, 128, 3) and picture.std() > 1
        problem = picture_problem(picture, painter.normalize(load_rgb(sketch)))
        assert problem is None, f"{sketch.name}: {problem}"
        pictures.append(picture.astype(np.int16))
    for i in range(len(pictures)):
        for j in range(i + 1, len(pictures)):
            difference = float(np.abs(pictures[i] - pictures[j]).mean())
            assert difference > 2, f"{SKETCHES[i].name} and {SKETCHES[j].name} gave the same picture"

    # one self-contained page: every stage in order, each with its pictures embedded (no links to files)
    report = (root / "report.html").read_text()
    stages = ("1. fetch", "2. edges", "3. pair", "4. train", "5. compare", "6. generate")
    for stage in stages:
        assert stage in report
    assert [report.index(f"<h2>{s}</h2>") for s in stages] == sorted(report.index(f"<h2>{s}</h2>") for s in stages)
    sections = {s: report.split(f"<h2>{s}</h2>", 1)[1].split("</section>", 1)[0] for s in stages}
    images = {s: body.count('<img src="data:image/png;base64,') for s, body in sections.items()}
    assert images["1. fetch"] == 8 and images["2. edges"] == 8 and images["3. pair"] >= 1
    assert images["4. train"] >= 1                                            # the last epoch's samples
    # the split is a hash of the name, and none of demo_00000..demo_00031 falls in val (the first is demo_00040):
    # no val pairs, no val L1, and the page says so instead of drawing an empty chart
    assert not list(data.glob("pairs/val/*.png")) and all(m.get("val_l1") is None for m in metrics)
    assert "no validation L1 recorded" in sections["4. train"] and "<svg" not in sections["4. train"]
    assert images["5. compare"] == 1                                          # the grid
    assert images["6. generate"] == 2 * (len(SKETCHES) + len(COLOURED))      # sketch + picture pairs
    assert report.count("<img") == sum(images.values())                      # every picture embedded
    assert report.count("<img") >= 2 * 8 + 2 * len(SKETCHES)   # photos, edges, sketch + picture pairs
    assert "32 photos" in sections["1. fetch"] and str(root / "models" / "demo") in sections["5. compare"]
