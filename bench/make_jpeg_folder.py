#!/usr/bin/python3
"""Writes a folder of ImageNet-like JPEGs for the data-pipeline benchmarks (soft bench data and
bench/timm_data_bench.py): DIR/train/<class>/*.JPEG and DIR/val/<class>/*.JPEG, 500x375 or
375x500 (ImageNet's commonest sizes), quality 90, with photo-like content: smooth colour fields,
a few soft-edged shapes and sensor-like noise, so the JPEG sizes (about 60-110 KB) and decode
costs resemble real photographs rather than flat synthetic images.

Needs Pillow and numpy (Debian's python3-pil, python3-numpy). Deterministic for a given --seed.
Usage: /usr/bin/python3 bench/make_jpeg_folder.py DIR [--train 512] [--val 32] [--classes 8]
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def photo_like(rng, w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):  # low-frequency colour field: a few random sinusoids
        for _ in range(4):
            fx, fy = rng.uniform(0.002, 0.03, 2)
            img[..., c] += rng.uniform(20, 60) * np.sin(2 * np.pi * (fx * x + fy * y) + rng.uniform(0, 6.3))
        img[..., c] += rng.uniform(60, 190)
    for _ in range(rng.integers(3, 9)):  # soft-edged ellipses with texture
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(15, w / 3), rng.uniform(15, h / 3)
        d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
        mask = np.clip((1.2 - d) * 4, 0, 1)[..., None]
        colour = rng.uniform(0, 255, 3)
        texture = rng.uniform(5, 25) * np.sin(x * rng.uniform(0.05, 0.5))[..., None]
        img = img * (1 - mask) + (colour + texture) * mask
    img += rng.normal(0, rng.uniform(2, 8), img.shape)  # sensor noise
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dir")
    p.add_argument("--train", type=int, default=512)
    p.add_argument("--val", type=int, default=32)
    p.add_argument("--classes", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    for split, count in (("train", a.train), ("val", a.val)):
        for i in range(count):
            cls = Path(a.dir) / split / f"n{i % a.classes:08d}"
            cls.mkdir(parents=True, exist_ok=True)
            w, h = (500, 375) if rng.uniform() < 0.75 else (375, 500)
            photo_like(rng, w, h).save(cls / f"{split}_{i:06d}.JPEG", quality=90)
    print(f"{a.dir}: {a.train} train and {a.val} val JPEGs in {a.classes} classes")


if __name__ == "__main__":
    main()
