#!/usr/bin/env python3
"""Writes the crafted files of the reliability tests (docs/RELIABILITY.md):

  tests/fuzz/corpus/<parser>/  small valid files: the fuzzers' seeds (each must load)
  tests/data/bad/<parser>/     hostile files, each with its expected error in tests/test_bad_files.cpp

for the parsers safetensors, idx (MNIST), cifar (CIFAR-10 binary), image (JPEG, PNG) and config
(JSON model configs). Standard library only, deterministic: rerunning rewrites identical bytes.
Usage: python3 tests/data/make_bad_files.py   (from anywhere; paths are relative to this file)
"""
import gzip
import json
import math
import shutil
import struct
import zlib
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
SEEDS = TESTS / "fuzz" / "corpus"
BAD = TESTS / "data" / "bad"


def write(root, parser, name, data):
    path = root / parser / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


# ---- safetensors: 8-byte little-endian header length, JSON header, data ----------------------

def safetensors(header, data=b"", header_len=None):
    text = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    text = text.encode()
    return struct.pack("<Q", len(text) if header_len is None else header_len) + text + data


def f32(*values):
    return struct.pack(f"<{len(values)}f", *values)


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def make_safetensors():
    s = "safetensors"
    # Linear(3, 2)'s state: weight [2, 3], bias [2] (the fuzz harness loads files into one).
    linear = {"__metadata__": {"format": "pt"}, "weight": entry("F32", [2, 3], 0, 24), "bias": entry("F32", [2], 24, 32)}
    write(SEEDS, s, "linear.safetensors", safetensors(linear, f32(1, 2, 3, 4, 5, 6, -1, 1)))
    every = {"f64": entry("F64", [2], 0, 16), "bf16": entry("BF16", [3], 16, 22), "empty": entry("F32", [0, 5], 22, 22),
             "i64": entry("I64", [1], 24, 32), "scalar": entry("F32", [], 32, 36)}
    data = struct.pack("<2d", 0.5, -3.0) + bytes.fromhex("803f0040c0bf") + b"\0\0" + struct.pack("<q", -7) + f32(9)
    write(SEEDS, s, "every_dtype.safetensors", safetensors(every, data))

    two = f32(1.5, -2)
    one = lambda e: safetensors({"t": e}, two)  # noqa: E731 - one tensor 't' over two floats
    bad = {
        "truncated_length.safetensors": b"\x05\0\0\0\0",
        "header_past_end.safetensors": safetensors("{}", header_len=200),
        "header_length_huge.safetensors": safetensors("{}", header_len=1 << 40),
        "header_not_json.safetensors": safetensors('{"t": nope}'),
        "header_not_object.safetensors": safetensors("[1, 2]"),
        "header_duplicate_name.safetensors": safetensors(
            '{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
            two),
        "entry_duplicate_dtype.safetensors": safetensors(
            '{"t":{"dtype":"F32","dtype":"I64","shape":[2],"data_offsets":[0,8]}}', two),
        "entry_incomplete.safetensors": one({"dtype": "F32", "shape": [2]}),
        "dtype_unsupported.safetensors": one(entry("F16", [4], 0, 8)),
        "dtype_not_string.safetensors": one(entry(5, [2], 0, 8)),
        "shape_not_array.safetensors": one(entry("F32", 2, 0, 8)),
        "shape_negative.safetensors": one(entry("F32", [-2], 0, 8)),
        "shape_float.safetensors": one(entry("F32", [2.0], 0, 8)),
        "shape_overflow.safetensors": one(entry("F32", [1 << 32, 1 << 32], 0, 8)),
        "shape_zero_times_huge.safetensors": one(entry("F32", [0, 1 << 62, 1 << 62], 0, 0)),
        "offsets_not_pair.safetensors": one({"dtype": "F32", "shape": [2], "data_offsets": [0]}),
        "offsets_past_end.safetensors": one(entry("F32", [4], 0, 16)),
        "offsets_reversed.safetensors": one(entry("F32", [0], 8, 4)),
        "offsets_max_uint64.safetensors": one(entry("F32", [2], 0, (1 << 64) - 1)),
        "offsets_overlap.safetensors": safetensors({"a": entry("F32", [1], 0, 4), "b": entry("F32", [1], 2, 6)}, two),
        "dtype_shape_disagree.safetensors": one(entry("F32", [3], 0, 8)),
        "claims_4tib_outside.safetensors": safetensors({"big": entry("F32", [1 << 40], 0, 1 << 42)}, bytes(16)),
        "claims_4tib_in_16_bytes.safetensors": safetensors({"big": entry("F32", [1 << 40], 0, 16)}, bytes(16)),
        "metadata_not_object.safetensors": safetensors({"__metadata__": "x"}),
        "metadata_value_not_string.safetensors": safetensors({"__metadata__": {"a": "b", "n": 1}}),
        # Valid files that do not fit Linear(3, 2) (nn/state.h's strict load).
        "state_wrong_shape.safetensors": safetensors({"weight": entry("F32", [3, 2], 0, 24), "bias": entry("F32", [2], 24, 32)},
                                                     f32(*range(8))),
        "state_missing_and_unexpected.safetensors": safetensors({"weight": entry("F32", [2, 3], 0, 24),
                                                                 "extra": entry("F32", [2], 24, 32)}, f32(*range(8))),
        # A valid file whose values are all NaN (weight) and +-inf (bias): parses, refused by load_state.
        "nan_filled.safetensors": safetensors({"weight": entry("F32", [2, 3], 0, 24), "bias": entry("F32", [2], 24, 32)},
                                              f32(*[math.nan] * 6, math.inf, -math.inf)),
    }
    for name, data in bad.items():
        write(BAD, s, name, data)


# ---- IDX: big-endian magic and dims, then bytes ----------------------------------------------

def idx(magic, dims, payload):
    return struct.pack(f">I{len(dims)}I", magic, *dims) + bytes(payload)


IMAGES = idx(0x803, [2, 3, 4], range(0, 240, 10))  # 2 images of 3x4
LABELS = idx(0x801, [2], [3, 9])


def make_idx():
    s = "idx"
    write(SEEDS, s, "images.idx3-ubyte", IMAGES)
    write(SEEDS, s, "labels.idx1-ubyte", LABELS)
    write(SEEDS, s, "images.idx3-ubyte.gz", gzip.compress(IMAGES, mtime=0))
    write(SEEDS, s, "labels.idx1-ubyte.gz", gzip.compress(LABELS, mtime=0))
    gz = gzip.compress(IMAGES, mtime=0)
    corrupt = bytearray(gz)
    corrupt[-8] ^= 0xFF  # the CRC-32 of the trailer
    bad = {
        "empty.idx3-ubyte": b"",
        "images_wrong_magic.idx3-ubyte": idx(0x801, [2, 3, 4], bytes(24)),
        "labels_wrong_magic.idx1-ubyte": idx(0x803, [2], [1, 2]),
        "images_truncated_header.idx3-ubyte": struct.pack(">II", 0x803, 2),
        "images_truncated_data.idx3-ubyte": IMAGES[:-4],
        "images_trailing_bytes.idx3-ubyte": IMAGES + b"\0",
        "images_huge_dims.idx3-ubyte": idx(0x803, [0xFFFFFFFF] * 3, bytes(16)),
        "images_none_of_2_64_pixels.idx3-ubyte": idx(0x803, [0, 0xFFFFFFFF, 0xFFFFFFFF], b""),
        "images_2_40_pixels.idx3-ubyte": idx(0x803, [1 << 20, 1 << 10, 1 << 10], bytes(16)),
        "images_empty_size.idx3-ubyte": idx(0x803, [2, 0, 4], b""),
        "labels_huge_count.idx1-ubyte": idx(0x801, [0xFFFFFFFF], [1, 2]),
        "labels_bad_label.idx1-ubyte": idx(0x801, [2], [3, 12]),
        "labels_count_mismatch.idx1-ubyte": idx(0x801, [3], [1, 2, 3]),
        "images_gz_truncated.idx3-ubyte.gz": gz[: len(gz) // 2],
        "images_gz_bad_crc.idx3-ubyte.gz": bytes(corrupt),
        "images_gz_no_trailer.idx3-ubyte.gz": gz[:-8],  # every data byte, no CRC-32 and length
    }
    for name, data in bad.items():
        write(BAD, s, name, data)


# ---- CIFAR-10 binary: records of 1 label byte + 3072 pixel bytes ------------------------------

def record(label, seed):
    return bytes([label]) + bytes((seed * 7 + i * 13) % 256 for i in range(3072))


def make_cifar():
    s = "cifar"
    write(SEEDS, s, "one_record.bin", record(3, 1))
    write(SEEDS, s, "two_records.bin", record(0, 2) + record(9, 3))
    bad = {
        "empty.bin": b"",
        "truncated.bin": record(1, 4) + record(2, 5)[:100],
        "label_10.bin": record(10, 6),
        "label_255_in_record_1.bin": record(4, 7) + record(255, 8),
    }
    for name, data in bad.items():
        write(BAD, s, name, data)


# ---- images: PNG (zlib) and baseline JPEG written by hand -------------------------------------

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(width, height, color_type, depth, pixel, interlace=False, extra=b"", ihdr_crc=None):
    """pixel(x, y) -> bytes of one pixel (depth 8 or 16), or a 0/1 sample for depth 1 grey."""
    def scanlines(xs, ys):
        out = []
        for y in ys:
            if depth == 1:
                bits = "".join(str(pixel(x, y)) for x in xs)
                bits += "0" * (-len(bits) % 8)
                row = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
            else:
                row = b"".join(pixel(x, y) for x in xs)
            out += [b"\0", row]  # filter type 0
        return b"".join(out)

    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            xs, ys = range(x0, width, dx), range(y0, height, dy)
            if len(xs) and len(ys):
                raw += scanlines(xs, ys)
    else:
        raw = scanlines(range(width), range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 1 if interlace else 0)
    head = png_chunk(b"IHDR", ihdr)
    if ihdr_crc is not None:
        head = head[:-4] + struct.pack(">I", ihdr_crc)
    return (b"\x89PNG\r\n\x1a\n" + head + extra + png_chunk(b"IDAT", zlib.compress(raw, 9)) +
            png_chunk(b"IEND", b""))


def rgb(x, y):
    return bytes([(x * 40) % 256, (y * 60) % 256, (x * y * 25) % 256])


def jpeg_segment(code, payload):
    return bytes([0xFF, code]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg(width, height, components, scan="full"):
    """A baseline JPEG of flat grey blocks: every block is DC difference 0 then end-of-block,
    with one-code Huffman tables (DC: category 0 = '0'; AC: EOB = '0'), so 2 bits per block."""
    dqt = jpeg_segment(0xDB, bytes([0]) + bytes([1] * 64))
    sof = jpeg_segment(0xC0, bytes([8]) + struct.pack(">HHB", height, width, components) +
                       b"".join(bytes([i + 1, 0x11, 0]) for i in range(components)))
    one_code = bytes([1] + [0] * 15) + bytes([0])  # one code of length 1 for symbol 0
    dht = jpeg_segment(0xC4, bytes([0x00]) + one_code + bytes([0x10]) + one_code)
    sos = jpeg_segment(0xDA, bytes([components]) + b"".join(bytes([i + 1, 0x00]) for i in range(components)) +
                       bytes([0, 63, 0]))
    blocks = math.ceil(width / 8) * math.ceil(height / 8) * components
    bits = "00" * blocks
    bits += "1" * (-len(bits) % 8)
    data = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
    head = b"\xff\xd8" + dqt + sof + dht + sos
    if scan == "cut":  # the file ends inside the scan
        return head + data[: len(data) // 2]
    if scan == "empty":  # the end-of-image marker right after the scan header
        return head + b"\xff\xd9"
    return head + data + b"\xff\xd9"


def make_image():
    s = "image"
    write(SEEDS, s, "grey.jpg", jpeg(8, 8, 1))
    write(SEEDS, s, "colour.jpg", jpeg(24, 16, 3))
    write(SEEDS, s, "cmyk.jpg", jpeg(24, 16, 4))  # 4 components: libjpeg reads CMYK
    write(SEEDS, s, "rgb.png", png(5, 4, 2, 8, rgb))
    write(SEEDS, s, "rgb_interlaced.png", png(9, 7, 2, 8, rgb, interlace=True))
    write(SEEDS, s, "grey16.png", png(3, 3, 0, 16, lambda x, y: struct.pack(">H", x * 20000 + y)))
    write(SEEDS, s, "grey1.png", png(10, 2, 0, 1, lambda x, y: (x + y) % 2))
    write(SEEDS, s, "rgba.png", png(4, 4, 6, 8, lambda x, y: rgb(x, y) + bytes([x * 60])))
    palette = png_chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])) + png_chunk(b"tRNS", bytes([128]))
    write(SEEDS, s, "palette.png", png(4, 3, 3, 8, lambda x, y: bytes([(x + y) % 3]), extra=palette))

    good = png(5, 4, 2, 8, rgb)
    idat = good.index(b"IDAT")
    bad_zlib = bytearray(good)
    bad_zlib[idat + 4: idat + 6] = b"\x00\x00"  # the zlib header of the image data
    bad = {
        "empty.png": b"",
        "gif_magic.png": b"GIF89a\x01\x00\x01\x00\x00\x00\x00",
        "png_signature_only.png": good[:8],
        "png_truncated_idat.png": good[: idat + 10],
        "png_bad_ihdr_crc.png": png(5, 4, 2, 8, rgb, ihdr_crc=0),
        "png_bad_zlib.png": bytes(bad_zlib),
        "png_zero_width.png": png(0, 4, 2, 8, rgb),
        "png_100000x100000.png": good[:8] + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)) +
                                 png_chunk(b"IEND", b""),
        "jpeg_truncated_scan.jpg": jpeg(64, 64, 3, scan="cut"),
        "jpeg_empty_scan_12288x4346.jpg": jpeg(4346, 12288, 1, scan="empty"),
        "jpeg_no_frame.jpg": b"\xff\xd8\xff\xd9",
        "jpeg_zero_width.jpg": jpeg(8, 8, 1).replace(struct.pack(">HHB", 8, 8, 1), struct.pack(">HHB", 8, 0, 1)),
        "jpeg_65000x65000.jpg": jpeg(8, 8, 1).replace(struct.pack(">HHB", 8, 8, 1), struct.pack(">HHB", 65000, 65000, 1)),
        "jpeg_30000x30000.jpg": jpeg(8, 8, 3).replace(struct.pack(">HHB", 8, 8, 3), struct.pack(">HHB", 30000, 30000, 3)),
        "jpeg_cmyk_truncated_scan.jpg": jpeg(48, 32, 4, scan="cut"),  # 4 components: read as CMYK
        "jpeg_garbage_after_soi.jpg": b"\xff\xd8\xff" + bytes((i * 97 + 13) % 256 for i in range(200)),
        "png_side_2000000.png": good[:8] + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 2000000, 8, 0, 0, 0, 0)) +
                                png_chunk(b"IEND", b""),
        # Valid, 1 pixel wide and 10^6 tall (libpng's limit): decodes, and must not make the
        # transforms allocate height x output width doubles (5.4 GB at 224).
        "tall_1x1000000.png": png(1, 1000000, 0, 8, lambda x, y: b"\x80"),
    }
    for name, data in bad.items():
        write(BAD, s, name, data)


# ---- JSON model configs ----------------------------------------------------------------------

def make_config():
    s = "config"
    write(SEEDS, s, "defaults.json", "{}")
    small = {"name": "seed", "img_size": 32, "embed_dims": [16, 32, 48, 64], "num_heads": [1, 2, 3, 4],
             "depths": [1, 1, 1, 1], "stem_strides": [1, 1, 1], "landmark_strides": [2, 2, 2],
             "local_kernels": [3, 3, 3], "stem_width": 8, "newton_iterations": 3, "newton_form": "neurips",
             "soft_norm": True, "mlp_ratio_stage4": 2, "drop_rate": 0.1, "drop_path_rate": 0.05}
    write(SEEDS, s, "small.json", json.dumps(small, indent=1))
    write(SEEDS, s, "pos_grids.json", json.dumps({"img_size": 64, "pos_embed_grids": [8, 4, 2, 1]}))
    bad = {
        "not_json.json": "{not json",
        "not_object.json": "[1, 2]",
        "duplicate_key.json": '{"img_size": 224, "img_size": 32}',
        "unknown_key.json": '{"embed_dim": [64, 128, 320, 512]}',
        "int_as_string.json": '{"img_size": "224"}',
        "int_as_float.json": '{"depths": [1, 2.5, 3, 2]}',
        "list_too_short.json": '{"depths": [1, 2, 3]}',
        "list_of_lists.json": '{"num_heads": [[1], [2], [3], [4]]}',
        "bool_as_int.json": '{"soft_norm": 1}',
        "name_not_string.json": '{"name": 5}',
        "newton_form_unknown.json": '{"newton_form": "exact"}',
        "drop_rate_string.json": '{"drop_rate": "0.1"}',
        "drop_rate_one.json": '{"drop_path_rate": 1.0}',
        "stride_zero.json": '{"stem_strides": [0, 1, 2]}',
        "img_size_int64_max.json": '{"img_size": 9223372036854775807}',
        "in_chans_uint64_max.json": '{"in_chans": 18446744073709551615}',
        "depth_huge.json": '{"depths": [1, 2, 3, 1000000000000]}',
        "embed_dims_huge.json": '{"embed_dims": [64, 128, 320, 4294967296], "num_heads": [1, 1, 1, 1]}',
        "heads_not_dividing.json": '{"embed_dims": [64, 128, 320, 500]}',
        "kernel_even.json": '{"local_kernels": [9, 4, 3]}',
        "landmark_stride_one.json": '{"landmark_strides": [8, 1, 2]}',
        "deep_nesting.json": '{"img_size": ' + "[" * 10000 + "]" * 10000 + "}",
    }
    for name, data in bad.items():
        write(BAD, s, name, data)


def main():
    for root in (SEEDS, BAD):
        for parser in ("safetensors", "idx", "cifar", "image", "config"):
            shutil.rmtree(root / parser, ignore_errors=True)
    make_safetensors()
    make_idx()
    make_cifar()
    make_image()
    make_config()
    for root in (SEEDS, BAD):
        files = sorted(p for p in root.rglob("*") if p.is_file())
        print(f"{root.relative_to(TESTS.parent)}: {len(files)} files, {sum(p.stat().st_size for p in files)} bytes")


if __name__ == "__main__":
    main()
