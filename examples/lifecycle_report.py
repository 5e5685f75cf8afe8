"""One HTML page that shows every stage of a theme's life cycle: photos, edges, pairs, training, compare, generate.

    python examples/lifecycle_report.py --root ROOT --theme demo --run main \
        --compare ROOT/reports/compare --sketches examples/sketches --generated ROOT/generated -o ROOT/report.html

The page is a single file (pictures embedded), so it opens offline and can be mailed around.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
from pathlib import Path

from PIL import Image

THUMB = 160


def data_uri(path: Path, width: int | None = THUMB) -> str:
    img = Image.open(path).convert("RGB")
    if width and img.width > width:
        img = img.resize((width, max(1, round(img.height * width / img.width))), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def figure(path: Path, caption: str, width: int | None = THUMB) -> str:
    return (f'<figure><img src="{data_uri(path, width)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def stage(title: str, text: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2><p>{text}</p><div class=row>{body}</div></section>"


def l1_chart(epochs: list[int], values: list[float], w: int = 420, h: int = 160) -> str:
    """Validation L1 per epoch as an inline SVG line chart."""
    if not values:
        return "<p>(no validation L1 recorded)</p>"
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    xs = [30 + i * (w - 40) / max(1, len(values) - 1) for i in range(len(values))]
    ys = [h - 20 - (v - lo) / span * (h - 40) for v in values]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    labels = "".join(f'<text x="{x:.1f}" y="{h - 4}" font-size="10" text-anchor="middle">{e}</text>'
                     for x, e in zip(xs, epochs))
    return (f'<svg width="{w}" height="{h}" role="img" aria-label="validation L1 per epoch">'
            f'<polyline fill="none" stroke="#d33" stroke-width="2" points="{points}"/>{labels}'
            f'<text x="2" y="14" font-size="10">{hi:.3f}</text><text x="2" y="{h - 20}" font-size="10">{lo:.3f}</text>'
            f"</svg>")


def build(root: Path, theme: str, run: str, compare: Path, sketches: Path, generated: Path, count: int) -> str:
    data = root / "data" / theme
    photos = sorted((data / "photos").glob("*.png"))[:count]
    sections = []
    sections.append(stage("1. fetch", f"{len(list((data / 'photos').glob('*.png')))} photos in "
                          f"<code>{html.escape(str(data / 'photos'))}</code>.",
                          "".join(figure(p, p.stem) for p in photos)))
    edges = [data / "edges" / f"{p.stem}.png" for p in photos]
    sections.append(stage("2. edges", "HED plus the pix2pix authors' post-processing: one-pixel lines.",
                          "".join(figure(e, e.stem) for e in edges if e.exists())))
    pairs = sorted((data / "pairs" / "train").glob("*.png"))[:max(1, count // 2)]
    sections.append(stage("3. pair", "A (sketch) | B (photo), the pix2pix layout.",
                          "".join(figure(p, p.stem, 2 * THUMB) for p in pairs)))
    run_dir = root / "runs" / theme / run
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    val = [(r["epoch"], r["val_l1"]) for r in records if r.get("val_l1") is not None]
    samples = sorted((run_dir / "samples").glob("*.png"))
    table = "".join(f"<tr><td>{e}</td><td>{v:.4f}</td></tr>" for e, v in val)
    train_body = (f"<div>{l1_chart([e for e, _ in val], [v for _, v in val])}"
                  f"<table><tr><th>epoch</th><th>val L1</th></tr>{table}</table></div>")
    if samples:
        train_body += figure(samples[-1], f"{samples[-1].stem}: sketch | generated | photo", 3 * THUMB)
    sections.append(stage("4. train", f"Run <code>{html.escape(run)}</code>: validation L1 per epoch and the "
                          "last epoch's samples.", train_body))
    metrics = json.loads((compare / "metrics.json").read_text())
    selected = metrics.get("selected") or metrics.get("winner")
    sections.append(stage("5. compare", f"Checkpoints on the hand-drawn sketches; selected: "
                          f"<b>{html.escape(str(selected))}</b> (full report: "
                          f"<code>{html.escape(str(compare / 'index.html'))}</code>).",
                          figure(compare / "grid.png", "rows: sketches; columns: input, then checkpoints", None)))
    cells = []
    for sketch in sorted(sketches.rglob("*.png")):   # the line drawings, then the coloured ones (colour/)
        name = sketch.relative_to(sketches).with_suffix("")
        picture = generated / f"{name}.png"
        if picture.exists():
            cells.append(f'<div class=pair>{figure(sketch, str(name))}{figure(picture, "picture")}</div>')
    sections.append(stage("6. generate", "Hand-drawn sketches in, pictures out, with the selected model: lines "
                          "only, then lines with crayon colour (colour/).", "".join(cells)))
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
             "figure{display:inline-block;margin:4px;text-align:center;font-size:11px}"
             "img{border:1px solid #ccc;image-rendering:auto}.row{display:flex;flex-wrap:wrap;align-items:flex-start}"
             ".pair{display:flex;margin-right:16px}table{border-collapse:collapse;margin:8px}"
             "td,th{border:1px solid #ccc;padding:2px 8px;font-size:12px}")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>icanvas: {html.escape(theme)} life cycle"
            f"</title><style>{style}</style></head><body><h1>icanvas: the {html.escape(theme)} theme, "
            f"from photos to pictures</h1>{''.join(sections)}</body></html>")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--theme", default="demo")
    ap.add_argument("--run", required=True)
    ap.add_argument("--compare", type=Path, required=True, help="the compare report folder")
    ap.add_argument("--sketches", type=Path, required=True)
    ap.add_argument("--generated", type=Path, required=True)
    ap.add_argument("--count", type=int, default=8, help="photos shown per stage")
    ap.add_argument("-o", "--out", type=Path, required=True)
    a = ap.parse_args()
    page = build(a.root, a.theme, a.run, a.compare, a.sketches, a.generated, a.count)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(page)
    tmp.replace(a.out)
    print(a.out)


if __name__ == "__main__":
    main()
