#!/usr/bin/python3
"""Writes the real-world image files of tests/test_image_decode_files.cpp and what Pillow makes of
them (Image.open(f).convert("RGB"), the loader of torchvision's ImageFolder), as raw 8-bit RGB:

  cmyk.jpg        a CMYK JPEG (Adobe marker, inverted samples, as ImageNet's few dozen)
  png_named.JPEG  a PNG file under a JPEG name (ImageNet has one)
  exif_rot6.jpg   a JPEG whose EXIF says "rotate 90": Pillow ignores it unless asked
  region.jpg      a 96x64 4:2:0 JPEG for decoding parts of an image (no .rgb: checked against
                  a whole decode by the same library)
  smooth.jpg      a 96x64 JPEG of smooth photo-like content (gradients, low frequencies)
  smooth_eval16.rgb  timm's eval transform of smooth.jpg at 16 px before normalisation: Resize(18,
                  bicubic) then CenterCrop(16), i.e. 27x18 then the centre 16x16
  <name>.rgb      Pillow's pixels for each; sizes in sizes.json

Needs Pillow (Debian's python3-pil). Usage: /usr/bin/python3 tests/data/decode/make_fixtures.py
"""
import io
import math
import json
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent


def pattern(w, h, mode="RGB"):
    img = Image.new("RGB", (w, h))
    img.putdata([((x * 23) % 256, (y * 31) % 256, ((x + y) * 11) % 256) for y in range(h) for x in range(w)])
    return img.convert(mode)


def main():
    sizes = {}
    pattern(24, 16, "CMYK").save(HERE / "cmyk.jpg", quality=95)
    buf = io.BytesIO()
    pattern(10, 7).save(buf, format="PNG")
    (HERE / "png_named.JPEG").write_bytes(buf.getvalue())
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    pattern(20, 12).save(HERE / "exif_rot6.jpg", quality=95, exif=exif.tobytes())
    pattern(96, 64).save(HERE / "region.jpg", quality=90, subsampling=2)
    for name in ("cmyk.jpg", "png_named.JPEG", "exif_rot6.jpg"):
        img = Image.open(HERE / name).convert("RGB")
        (HERE / (name.split(".")[0] + ".rgb")).write_bytes(img.tobytes())
        sizes[name] = list(img.size)
    smooth = Image.new("RGB", (96, 64))
    smooth.putdata([(int(128 + 100 * math.sin(x / 9.0)), int(40 + 2 * y), int(128 + 90 * math.cos((x + y) / 13.0)))
                    for y in range(64) for x in range(96)])
    smooth.save(HERE / "smooth.jpg", quality=90)
    small = Image.open(HERE / "smooth.jpg").convert("RGB").resize((27, 18), Image.BICUBIC)
    left, top = int(round((27 - 16) / 2.0)), int(round((18 - 16) / 2.0))
    (HERE / "smooth_eval16.rgb").write_bytes(small.crop((left, top, left + 16, top + 16)).tobytes())
    (HERE / "sizes.json").write_text(json.dumps(sizes, indent=1) + "\n")


if __name__ == "__main__":
    main()
