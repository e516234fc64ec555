#!/usr/bin/python3
"""Writes the Pillow reference results that tests/test_rand_augment.cpp checks nn/data/pil_ops.h
against: input.rgb (29 wide, 23 high, 8-bit RGB, row-major) and, per case of cases.json, the
result <name>.rgb of one Pillow operation with the arguments timm's RandAugment passes at
magnitude 9 (rotate 27 degrees, shear 0.27, translate 40.5 %, posterize to 1 bit, ...), plus a
few other arguments. Geometric ops use bicubic resampling and timm's ImageNet fill (124, 116, 104).

Needs Pillow (Debian's python3-pil). Deterministic: rerunning rewrites identical bytes.
Usage: /usr/bin/python3 tests/data/augment/make_fixtures.py
"""
import json
import random
from pathlib import Path

import PIL
from PIL import Image, ImageEnhance, ImageOps

HERE = Path(__file__).resolve().parent
W, H = 29, 23  # over 255 pixels, or equalize leaves the image as it is
FILL = (124, 116, 104)


def make_input():
    # Smooth gradients plus noise, values kept inside [30, 220] so autocontrast has work to do.
    rng = random.Random(18)
    img = Image.new("RGB", (W, H))
    for y in range(H):
        for x in range(W):
            r = 30 + (x * 150) // (W - 1) + rng.randint(0, 40)
            g = 30 + (y * 150) // (H - 1) + rng.randint(0, 40)
            b = 30 + ((x + y) * 7) % 150 + rng.randint(0, 40)
            img.putpixel((x, y), (r, g, b))
    return img


def affine(img, m):
    return img.transform(img.size, Image.AFFINE, m, resample=Image.BICUBIC, fillcolor=FILL)


def solarize_add(img, add, thresh=128):
    lut = [min(255, i + add) if i < thresh else i for i in range(256)]
    return img.point(lut * 3)


CASES = [
    ("rotate", 27.0, lambda im, a: im.rotate(a, resample=Image.BICUBIC, fillcolor=FILL)),
    ("rotate", -13.5, lambda im, a: im.rotate(a, resample=Image.BICUBIC, fillcolor=FILL)),
    ("shear_x", 0.27, lambda im, a: affine(im, (1, a, 0, 0, 1, 0))),
    ("shear_y", -0.27, lambda im, a: affine(im, (1, 0, 0, a, 1, 0))),
    ("translate_x", 0.405, lambda im, a: affine(im, (1, 0, a * im.size[0], 0, 1, 0))),
    ("translate_y", -0.405, lambda im, a: affine(im, (1, 0, 0, 0, 1, a * im.size[1]))),
    ("auto_contrast", 0, lambda im, a: ImageOps.autocontrast(im)),
    ("equalize", 0, lambda im, a: ImageOps.equalize(im)),
    ("invert", 0, lambda im, a: ImageOps.invert(im)),
    ("posterize", 1, lambda im, a: ImageOps.posterize(im, a)),
    ("posterize", 0, lambda im, a: ImageOps.posterize(im, a)),
    ("solarize", 26, lambda im, a: ImageOps.solarize(im, a)),
    ("solarize", 128, lambda im, a: ImageOps.solarize(im, a)),
    ("solarize_add", 99, lambda im, a: solarize_add(im, a)),
]
for factor in (1.81, 0.19, 0.6):
    CASES += [
        ("color", factor, lambda im, a: ImageEnhance.Color(im).enhance(a)),
        ("contrast", factor, lambda im, a: ImageEnhance.Contrast(im).enhance(a)),
        ("brightness", factor, lambda im, a: ImageEnhance.Brightness(im).enhance(a)),
        ("sharpness", factor, lambda im, a: ImageEnhance.Sharpness(im).enhance(a)),
    ]


def main():
    img = make_input()
    (HERE / "input.rgb").write_bytes(img.tobytes())
    manifest = {"pillow": PIL.__version__, "width": W, "height": H, "fill": FILL, "cases": []}
    for op, arg, fn in CASES:
        name = f"{op}_{arg}".replace("-", "m").replace(".", "p")
        out = fn(img.copy(), arg)
        assert out.size == (W, H) and out.mode == "RGB"
        (HERE / f"{name}.rgb").write_bytes(out.tobytes())
        manifest["cases"].append({"name": name, "op": op, "arg": arg})
    # torchvision's RandomResizedCrop on Pillow: crop (left, top, right, bottom), then resize.
    manifest["resizes"] = []
    for box, size, interp in [((2, 1, 26, 20), (7, 6), "bicubic"), ((0, 0, 29, 23), (5, 4), "bilinear"),
                              ((3, 2, 9, 7), (17, 19), "bicubic"), ((1, 3, 8, 21), (9, 9), "bilinear")]:
        name = "resize_{}_{}x{}_{}".format("_".join(map(str, box)), size[0], size[1], interp)
        resample = Image.BICUBIC if interp == "bicubic" else Image.BILINEAR
        (HERE / f"{name}.rgb").write_bytes(img.crop(box).resize(size, resample).tobytes())
        manifest["resizes"].append({"name": name, "box": box, "size": size, "interpolation": interp})
    (HERE / "cases.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
