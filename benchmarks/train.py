"""pix2pix training speed: icanvas's step against a faithful re-implementation of junyanz's, in one run.

Both train unet_256 + the 70x70 PatchGAN (ngf = ndf = 64) on the same A|B JPEG files (512x256, made here, as
edges2shoes ships them) with the same settings. The baseline is junyanz/pytorch-CycleGAN-and-pix2pix's path:
AlignedDataset (PIL open + convert, split, Resize 286 bicubic + crop + flip per half, ToTensor + Normalize per
image), a DataLoader with its default 4 workers, the default Adam, default (contiguous) memory format, and
optimize_parameters in its order. icanvas: PairDataset (one cv2 resize for A and B, uint8 batches, scaling on the
batch), fused Adam, channels-last on GPUs, the same step order. The two take turns (interleaved rounds), so a
busy machine slows both alike: read the ratios. "data wait" is the share of the time spent waiting for a batch.

    python benchmarks/train.py                        # batch 1 and 4 at 256 px on the CPU
    python benchmarks/train.py --threads 1 --rounds 3 --json
    python benchmarks/train.py --precisions           # icanvas's default (bf16 where native) and the other precision
    python benchmarks/train.py --device cuda          # icanvas with bfloat16 autocast (its CUDA default)

The figures, with the commit, the machine and the date, go to benchmarks/results/train-<date>-<time>.json (see
benchmarks/results.py).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from icanvas.core.runtime import resolve_precision
from icanvas.pix2pix.distributed import World
from icanvas.pix2pix.networks import GeneratorConfig, PatchDiscriminator, UnetGenerator, init_weights
from icanvas.pix2pix.dataset import EpochSampler, PairDataset, to_model_input
from icanvas.pix2pix.trainer import Pix2Pix, TrainConfig
from results import write_result


def make_pairs(folder: Path, n: int, size: int) -> list[Path]:
    """A|B JPEGs: smooth random 'photos' and a dark-line 'edge map' of their contours."""
    rng = np.random.default_rng(0)
    files = []
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        waves = [np.sin(6 * xx * rng.uniform(0.5, 2) + rng.uniform(0, 6)) * np.cos(5 * yy * rng.uniform(0.5, 2))
                 for _ in range(3)]
        photo = np.stack(waves, axis=2)
        photo = ((photo + 1) * 127.5).astype(np.uint8)
        edges = np.where(np.abs(photo[..., 0].astype(int) - 128) < 6, 0, 255).astype(np.uint8)
        ab = np.concatenate([np.repeat(edges[..., None], 3, 2), photo], axis=1)
        path = folder / f"{i}_AB.jpg"
        Image.fromarray(ab).save(path, quality=90)
        files.append(path)
    return files


# ---------------------------------------------------------------- baseline: junyanz's pix2pix, re-implemented


class AlignedDataset(Dataset):
    """junyanz data/aligned_dataset.py + base_dataset.get_params/get_transform (resize_and_crop, flip)."""

    def __init__(self, files: list[Path], load_size: int, crop_size: int) -> None:
        self.files, self.load_size, self.crop_size = files, load_size, crop_size

    def __len__(self) -> int:
        return len(self.files)

    def _transform(self, params: dict) -> T.Compose:
        x, y = params["crop_pos"]
        ops = [T.Resize([self.load_size, self.load_size], T.InterpolationMode.BICUBIC),
               T.Lambda(lambda img: img.crop((x, y, x + self.crop_size, y + self.crop_size)))]
        if params["flip"]:
            ops.append(T.Lambda(lambda img: img.transpose(Image.FLIP_LEFT_RIGHT)))
        return T.Compose(ops + [T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])

    def __getitem__(self, index: int) -> dict:
        AB = Image.open(self.files[index]).convert("RGB")
        w, h = AB.size
        A, B = AB.crop((0, 0, w // 2, h)), AB.crop((w // 2, 0, w, h))
        x = random.randint(0, max(0, self.load_size - self.crop_size))
        y = random.randint(0, max(0, self.load_size - self.crop_size))
        params = {"crop_pos": (x, y), "flip": random.random() > 0.5}
        return {"A": self._transform(params)(A), "B": self._transform(params)(B)}


class JunyanzPix2Pix:
    """junyanz models/pix2pix_model.py: GANLoss('vanilla'), L1 x 100, default Adam, optimize_parameters."""

    def __init__(self, size: int, device: torch.device) -> None:
        torch.manual_seed(0)
        self.netG = init_weights(UnetGenerator(GeneratorConfig(size=size))).to(device)
        self.netD = init_weights(PatchDiscriminator(6, 64)).to(device)
        self.optimizer_G = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optimizer_D = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.loss = nn.BCEWithLogitsLoss()
        self.real_label, self.fake_label = torch.tensor(1.0, device=device), torch.tensor(0.0, device=device)
        self.device = device

    def gan_loss(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        target = (self.real_label if target_is_real else self.fake_label).expand_as(prediction)
        return self.loss(prediction, target)

    def set_requires_grad(self, net: nn.Module, flag: bool) -> None:
        for p in net.parameters():
            p.requires_grad = flag

    def optimize_parameters(self, data: dict) -> None:
        real_A, real_B = data["A"].to(self.device), data["B"].to(self.device)
        fake_B = self.netG(real_A)
        self.set_requires_grad(self.netD, True)
        self.optimizer_D.zero_grad()
        pred_fake = self.netD(torch.cat((real_A, fake_B), 1).detach())
        pred_real = self.netD(torch.cat((real_A, real_B), 1))
        loss_D = (self.gan_loss(pred_fake, False) + self.gan_loss(pred_real, True)) * 0.5
        loss_D.backward()
        self.optimizer_D.step()
        self.set_requires_grad(self.netD, False)
        self.optimizer_G.zero_grad()
        pred_fake = self.netD(torch.cat((real_A, fake_B), 1))
        loss_G = self.gan_loss(pred_fake, True) + nn.functional.l1_loss(fake_B, real_B) * 100.0
        loss_G.backward()
        self.optimizer_G.step()


# ---------------------------------------------------------------- timing


class Runner:
    """One implementation: a loader that never runs dry (a new epoch when one ends) and its step."""

    def __init__(self, name: str, make_loader, step) -> None:
        self.name, self.make_loader, self.step = name, make_loader, step
        self.epoch, self.it = 0, iter(make_loader(0))
        self.images, self.seconds, self.wait = 0, 0.0, 0.0

    def next_batch(self):
        batch = next(self.it, None)
        if batch is None:
            self.epoch += 1
            self.it = iter(self.make_loader(self.epoch))
            batch = next(self.it)
        return batch

    def run(self, steps: int, record: bool = True) -> None:
        for _ in range(steps):
            t0 = time.perf_counter()
            batch = self.next_batch()
            t1 = time.perf_counter()
            n = self.step(batch)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            if record:
                self.images += n
                self.seconds += t2 - t0
                self.wait += t1 - t0


def runners(files: list[Path], size: int, batch: int, device: torch.device, workers: int, base_workers: int,
            precisions: bool, sketch_augment: bool) -> list[Runner]:
    load_size = int(round(1.117 * size))
    base_model = JunyanzPix2Pix(size, device)
    base_ds = AlignedDataset(files, load_size, size)

    def base_loader(epoch: int):
        return DataLoader(base_ds, batch_size=batch, shuffle=True, num_workers=base_workers, drop_last=True)

    def base_step(data: dict) -> int:
        base_model.optimize_parameters(data)
        return len(data["A"])

    augment = None
    if sketch_augment:
        from icanvas.sketch.augment import augment_sketch as augment
    ours_ds = PairDataset(files, size, sketch_augment=augment)

    def ours_loader(epoch: int):
        sampler = EpochSampler(len(ours_ds), epoch=epoch)
        return DataLoader(ours_ds, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True,
                          pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None)

    def ours(use_amp: bool | None) -> Runner:
        model = Pix2Pix(TrainConfig(data="", run_dir="", size=size, batch_size=batch, amp=use_amp), device, World())

        def step(data: torch.Tensor) -> int:
            model.step(*to_model_input(data, device))
            return len(data)

        flag = {None: f" (default: {resolve_precision('auto', device)})", True: " --amp", False: " --no-amp"}
        return Runner("icanvas" + flag[use_amp], ours_loader, step)

    base = Runner("junyanz pix2pix (re-implemented)", base_loader, base_step)
    # icanvas's default (bfloat16 autocast on CUDA and on CPUs with BF16), and with --precisions the other one.
    other = [resolve_precision("auto", device) != "bf16"] if precisions else []
    return [base, ours(None)] + [ours(a) for a in other]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--steps", type=int, default=3, help="timed steps per implementation and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--workers", type=int, default=0, help="icanvas DataLoader workers")
    ap.add_argument("--base-workers", type=int, default=4, help="baseline DataLoader workers (junyanz: 4)")
    ap.add_argument("--sketch-augment", action="store_true", help="icanvas with its sketch augmentation on")
    ap.add_argument("--precisions", action="store_true",
                    help="also time icanvas in the precision its default does not pick (fp32 with --no-amp, or bf16)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*worker processes in total.*")  # junyanz's 4 workers on 2 cores
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = make_pairs(Path(tmp), 16, args.size)
        for batch in args.batch:
            impls = runners(files, args.size, batch, device, args.workers, args.base_workers, args.precisions,
                            args.sketch_augment)
            for r in impls:
                r.run(1, record=False)   # warm-up: first-call allocations, oneDNN primitive creation
            for _ in range(args.rounds):
                for r in impls:
                    r.run(args.steps)
            base_rate = impls[0].images / impls[0].seconds
            for r in impls:
                rate = r.images / r.seconds
                rows.append({"impl": r.name, "batch": batch, "size": args.size, "device": str(device),
                             "threads": torch.get_num_threads(), "images_per_s": rate, "ratio": rate / base_rate,
                             "data_wait": r.wait / r.seconds, "steps": args.steps * args.rounds})
            del impls
    path = write_result("train", {
        "model": f"unet_{args.size} + PatchGAN, ngf = ndf = 64", "size": args.size, "device": str(device),
        "threads": torch.get_num_threads(), "steps_per_round": args.steps, "rounds": args.rounds,
        "workers": args.workers, "base_workers": args.base_workers, "sketch_augment": args.sketch_augment,
        "both_precisions": args.precisions, "rows": rows})
    print(f"results: {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows))
        return
    print(f"pix2pix training step, unet_{args.size} + PatchGAN, {args.device}, {torch.get_num_threads()} threads, "
          f"{args.steps * args.rounds} timed steps each, interleaved")
    print(f"{'batch':>5}  {'implementation':<34} {'images/s':>9}  {'ratio':>6}  {'data wait':>9}")
    for r in rows:
        print(f"{r['batch']:>5}  {r['impl']:<34} {r['images_per_s']:>9.3f}  {r['ratio']:>5.2f}x  "
              f"{r['data_wait']:>9.1%}")


if __name__ == "__main__":
    main()
