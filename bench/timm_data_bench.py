#!/usr/bin/python3
"""The reference for `soft bench data`: timm 0.4.12's ImageNet training transform on Pillow, as
DeiT and SOFT train (RandomResizedCrop 224 bicubic, flip 0.5, RandAugment rand-m9-mstd0.5-inc1,
ToTensor, Normalize, RandomErasing 0.25 pixel mode), over torchvision's ImageFolder on DIR/train,
batches collated as torch's DataLoader does, in this one process on one thread (no workers).
Prints 'result data impl=timm ... images_per_s=X' like soft bench data.

timm is not installed: its wheel (pure Python) is unpacked without its dependencies into a
temporary folder, from --timm-wheel or else downloaded with `pip download --no-deps timm==0.4.12`.
torch and torchvision are Debian's (python3-torch, python3-torchvision).

Usage: /usr/bin/python3 bench/timm_data_bench.py DIR [--seconds 20] [--batch 128] [--timm-wheel W]
"""
import argparse
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path


def unpack_timm(wheel, into):
    if wheel is None:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "timm==0.4.12", "-d", into, "-q"],
                       check=True)
        wheel = next(Path(into).glob("timm-0.4.12-*.whl"))
    zipfile.ZipFile(wheel).extractall(into)
    sys.path.insert(0, into)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dir")
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--timm-wheel")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        unpack_timm(a.timm_wheel, tmp)
        import timm
        import torch
        from timm.data import create_transform
        from torchvision.datasets import ImageFolder

        assert timm.__version__ == "0.4.12", timm.__version__
        torch.set_num_threads(1)
        transform = create_transform(224, is_training=True, auto_augment="rand-m9-mstd0.5-inc1",
                                     interpolation="bicubic", re_prob=0.25, re_mode="pixel", re_count=1,
                                     color_jitter=0.4)
        ds = ImageFolder(str(Path(a.dir) / "train"), transform)
        collate = torch.utils.data.default_collate

        def batch(start):
            return collate([ds[(start + i) % len(ds)] for i in range(a.batch)])

        batch(0)  # warm-up: imports, first decodes
        images, start, t0, cpu0 = 0, a.batch, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < a.seconds:
            x, _ = batch(start)
            assert x.shape == (a.batch, 3, 224, 224)
            images += a.batch
            start += a.batch
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        rate = images / elapsed
        print(f"result data impl=timm threads=1 batch={a.batch} images={images} seconds={elapsed:.2f} "
              f"images_per_s={rate:.2f} images_per_s_per_thread={rate:.2f} cpu_seconds={cpu:.2f} "
              f"images_per_cpu_s={images / cpu:.2f}")
        print(f"\ntimm 0.4.12 on Pillow, one thread: {rate:.1f} images/s, {images / cpu:.1f} images/CPU-second "
              f"({images} images in {elapsed:.1f} s)")


if __name__ == "__main__":
    main()
