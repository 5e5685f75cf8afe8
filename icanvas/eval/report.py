"""The compare report: the grid image (sketches by checkpoints), one self-contained HTML page, metrics.json."""

from __future__ import annotations

import base64
import html
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from icanvas.core.images import encode_png, save_png
from icanvas.core.io import write_bytes_atomic, write_json_atomic
from icanvas.eval.compare import Comparison


def score_table(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """The score table as text: the column names, then one row per checkpoint, best first."""
    has_realism, has_pairs = comparison.photos is not None, comparison.pairs > 0
    has_colour = any(r.colour is not None for r in comparison.results)
    head = ["checkpoint", "score", "fidelity F", "precision", "recall", "degenerate"] + \
        (["realism R", "KID"] if has_realism else []) + (["L1", "PSNR", "SSIM"] if has_pairs else []) + \
        (["colour dE"] if has_colour else [])
    rows = []
    for r in comparison.results:
        row = [r.label, f"{r.score:.3f}", f"{r.fidelity:.3f}", f"{r.precision:.3f}", f"{r.recall:.3f}",
               f"{r.degenerate}/{len(r.sketches)}"]
        if has_realism:
            row += ["-" if r.realism is None else f"{r.realism:.3f}", "-" if r.kid is None else f"{r.kid:.3f}"]
        if has_pairs:
            row += [f"{r.pairs['l1']:.3f}", f"{r.pairs['psnr']:.2f}", f"{r.pairs['ssim']:.3f}"]
        if has_colour:
            row += ["-" if r.colour is None else f"{r.colour:.1f}"]
        rows.append(row)
    return head, rows


def _cell(img: np.ndarray, side: int) -> np.ndarray:
    rgb = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)
    if rgb.shape[0] != side:
        rgb = np.asarray(Image.fromarray(rgb).resize((side, side), Image.Resampling.LANCZOS))
    return rgb


def _fit_text(text: str, chars: int) -> str:
    return text if len(text) <= chars else "..." + text[-(chars - 3):]


def grid_image(comparison: Comparison, side: int = 128, pad: int = 4, header: int = 28) -> np.ndarray:
    """Rows = sketches, columns = the normalised input then each checkpoint (best first), under two label lines:
    the checkpoint and its fidelity."""
    columns = [("input", "(normalised)")] + [(r.label, f"F = {r.fidelity:.3f}") for r in comparison.results]
    rows, cols = len(comparison.sketch_names), len(columns)
    h, w = header + rows * (side + pad) + pad, cols * (side + pad) + pad
    canvas = Image.new("RGB", (w, h), (255, 255, 255))
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    chars = side // 6   # the default bitmap font is about 6 px a character
    for c, lines in enumerate(columns):
        for k, text in enumerate(lines):
            draw.text((pad + c * (side + pad), 2 + 12 * k), _fit_text(text, chars), fill=(0, 0, 0), font=font)
    for r in range(rows):
        cells = [comparison.inputs[r]] + [comparison.pictures[res.label][r] for res in comparison.results]
        for c, img in enumerate(cells):
            canvas.paste(Image.fromarray(_cell(img, side)), (pad + c * (side + pad), header + pad + r * (side + pad)))
    return np.asarray(canvas)


def _data_uri(img: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_png(img)).decode()


def report_html(comparison: Comparison, selected: str | None = None) -> str:
    """One self-contained page (images inline): the score table, then the grid with the scores per cell."""
    e = html.escape
    res = comparison.results
    head, rows = score_table(comparison)
    head = ["rank"] + head
    lines = []
    for i, cells in enumerate(rows, 1):
        mark = ' class="best"' if i == 1 else ""
        lines.append(f"<tr{mark}>" + "".join(f"<td>{e(c)}</td>" for c in [str(i)] + cells) + "</tr>")
    grid_head = "<th>input (normalised)</th>" + "".join(f"<th>{e(r.label)}</th>" for r in res)
    grid_rows = []
    for k, name in enumerate(comparison.sketch_names):
        cells = [f'<td><img src="{_data_uri(comparison.inputs[k])}" alt="{e(name)}"><br>{e(name)}</td>']
        for r in res:
            s = r.sketches[k]
            note = f"F={s.f:.2f}" + (f" ({e(s.problem)})" if s.problem else "")
            cells.append(f'<td><img src="{_data_uri(comparison.pictures[r.label][k])}"><br>{note}</td>')
        grid_rows.append("<tr>" + "".join(cells) + "</tr>")
    chosen = f"<p>Installed: <b>{e(selected)}</b></p>" if selected else ""
    photos = "" if comparison.photos is None else (
        f"<p>Realism against {comparison.photos['count']} photos from {e(comparison.photos['source'])}.</p>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>icanvas compare</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px;text-align:center;font-size:13px}} tr.best{{background:#e6ffe6}}
img{{width:160px;image-rendering:pixelated}}</style></head><body>
<h1>icanvas compare</h1>
<p>{len(res)} checkpoints, {len(comparison.sketch_names)} hand-drawn sketches, {comparison.pairs} held-out pairs.
Winner: <b>{e(comparison.winner.label)}</b>.</p>{chosen}{photos}
<p>Ranking rule: {e(comparison.rule)}</p>
<table><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>
{chr(10).join(lines)}</table>
<h2>Sketches (rows) by checkpoint (columns)</h2>
<table><tr>{grid_head}</tr>
{chr(10).join(grid_rows)}</table>
</body></html>
"""


def write_report(out: Path, comparison: Comparison, selected: str | None = None) -> dict[str, str]:
    """grid.png, index.html and metrics.json in `out` (each written atomically); returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"grid": out / "grid.png", "html": out / "index.html", "metrics": out / "metrics.json"}
    save_png(grid_image(comparison), files["grid"])
    write_bytes_atomic(files["html"], report_html(comparison, selected).encode())
    metrics = {"rule": comparison.rule, "rank_by": comparison.rank_by, "winner": comparison.winner.label,
               "selected": selected, "sketches": comparison.sketch_names, "pairs": comparison.pairs,
               "photos": comparison.photos,
               "checkpoints": [asdict(r) for r in comparison.results]}
    write_json_atomic(files["metrics"], metrics)
    return {k: str(v) for k, v in files.items()}
