"""`icanvas export`: a checkpoint or an installed model to ONNX (model.onnx + model.json), for ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import typer

from icanvas.cli.common import finish, state


def export(
    ctx: typer.Context,
    model: str = typer.Argument(..., metavar="MODEL", help="A run checkpoint (epoch_NNNN.safetensors), an "
                                "installed model folder, or a theme name (its installed model)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write model.onnx and model.json to."),
    force: bool = typer.Option(False, "--force", help="Replace the export in an existing folder."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
) -> None:
    """Export a model to ONNX: OUT/model.onnx (dynamic batch and size) + OUT/model.json.

    `generate --checkpoint OUT` runs it on ONNX Runtime (one picture per sketch: no --variations), and OUT
    placed at <root>/models/<theme>/ is served."""
    st = state(ctx)
    # Imported here, not at the top: it loads torch, and every other command should start fast.
    from icanvas.inference.export import export_model

    result = export_model(model, out, root=st.root, force=force)
    summary = {"model": str(result.source), "out": str(result.out), "format": "onnx", "files": result.files,
               "max_abs_diff": result.max_abs_diff}
    finish(st, summary, f"export: {result.source} -> {result.out} (ONNX; ONNX Runtime within "
                        f"{result.max_abs_diff:.1g} of torch)", json_out=json_out)
