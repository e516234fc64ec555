#!/usr/bin/env python3
"""Writes the PyTorch-checkpoint fixtures of tests/test_torch_checkpoint.cpp with Debian's
python3-torch (development only; the build and the tests never run Python):

  tests/data/pth/official.pth    a training checkpoint shaped like the official SOFT ones: {'model',
                                 'model_ema' (head.bias + 1), 'optimizer', 'lr_scheduler', 'epoch',
                                 'args' (argparse Namespace), 'scaler'} of tests/golden's weights
  tests/data/pth/bare_views.pth  a bare state_dict of the same weights, every name 'module.'-prefixed,
                                 every tensor a view into ONE shared storage at its own offset,
                                 2-D weights transposed views (non-contiguous strides)
  tests/data/pth/dtypes.pth      float16, bfloat16, float64, int32, uint8, bool tensors, a strided slice
  tests/data/pth/deflated.pth    dtypes.pth with every entry deflated and no alignment padding
  tests/data/pth/legacy.pth      the pre-1.6 format (refused with how to re-save)
  tests/data/bad/torch/*.pth     hostile files, each with its expected error in the test
  tests/fuzz/corpus/torch/       seeds of fuzz_torch (small valid files)
Deterministic given torch 1.13, except legacy.pth (its storage keys are object ids). Usage: /usr/bin/python3 tests/data/pth/make_pth.py
"""
import argparse
import collections
import io
import os
import shutil
import struct
import sys
import zipfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent.parent
BAD = TESTS / "data" / "bad" / "torch"
SEEDS = TESTS / "fuzz" / "corpus" / "torch"
PICKLE_SEEDS = TESTS / "fuzz" / "corpus" / "pickle"
sys.path.insert(0, str(TESTS / "golden"))
import soft_reference as ref  # noqa: E402


def golden_state():
    return collections.OrderedDict(ref.load_safetensors(str(TESTS / "golden" / "golden_weights.safetensors")))


def official(state):
    ema = collections.OrderedDict((k, v.clone()) for k, v in state.items())
    ema["head.bias"] += 1.0
    first = next(iter(state.values()))
    return {
        "model": state,
        "optimizer": {"state": {0: {"step": 10, "exp_avg": torch.zeros_like(first)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}]},
        "lr_scheduler": {"base_lrs": [1e-3], "last_epoch": 299},
        "epoch": 299,
        "model_ema": ema,
        "scaler": {"scale": 65536.0, "growth_factor": 2.0, "_growth_tracker": 12},
        "args": argparse.Namespace(model="soft_tiny", lr=1e-3, epochs=300, input_size=224, mixup=0.8,
                                   data_path="/data/imagenet", dist_eval=True, betas=None),
        "max_accuracy": 79.3,
    }


def bare_views(state):
    total = sum(v.numel() for v in state.values())
    flat = torch.zeros(total + 7, dtype=torch.float32)
    out = collections.OrderedDict()
    offset = 3  # nothing starts at 0
    for name, v in state.items():
        v = v.float()
        n = v.numel()
        if v.dim() == 2:  # stored transposed: the view is [out, in] with strides [1, out]
            flat[offset:offset + n].view(v.shape[1], v.shape[0]).copy_(v.t())
            view = flat[offset:offset + n].view(v.shape[1], v.shape[0]).t()
        else:
            flat[offset:offset + n].view(v.shape).copy_(v)
            view = flat[offset:offset + n].view(v.shape)
        assert torch.equal(view, v)
        out["module." + name] = view
        offset += n
    return out


def dtypes():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    return {
        "half": torch.tensor([1.5, -2.25, 65504.0, 6e-8], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -3.5, 1e30], dtype=torch.bfloat16),
        "f64": torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64),
        "i32": torch.tensor([-7, 0, 2**31 - 1], dtype=torch.int32),
        "u8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "flag": torch.tensor([True, False]),
        "steps": torch.tensor(5, dtype=torch.int64),  # a 0-d tensor
        "slice": base[1:, ::2],  # offset 6, strides [6, 2]
        "base": base,            # shares the slice's storage
        "empty": torch.zeros(0, 3),
    }


def save(obj, path, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, str(path), **kw)


def entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def zip_of(items, method=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in items:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    return buf.getvalue()


def patched(items, old, new):
    out = []
    for name, data in items:
        if name.endswith("data.pkl"):
            assert old in data, old
            data = data.replace(old, new, 1)
        out.append((name, data))
    return zip_of(out)


# Pickle opcodes, for hand-made hostile pickles (protocol 2).
def unicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def tensor_call(key, storage, numel, offset, size, stride):
    def tup(xs):
        return b"(" + b"".join(b"J" + struct.pack("<i", x) if x < 2**31 else b"\x8a\x08" + struct.pack("<q", x)
                               for x in xs) + b"t"
    pid = b"(" + unicode("storage") + b"ctorch\n" + storage.encode() + b"\n" + unicode(key) + unicode("cpu") + \
        (b"J" + struct.pack("<i", numel) if numel < 2**31 else b"\x8a\x08" + struct.pack("<q", numel)) + b"tQ"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"J" + struct.pack("<i", offset) + tup(size) + tup(stride) +
            b"\x89)tR")  # _rebuild_tensor_v2(storage, offset, size, stride, False, ())


def one_tensor_pickle(call):
    return b"\x80\x02}(" + unicode("w") + call + b"u."


def deflate_bomb():
    """data.pkl declared as 2^40 bytes inflated from 1 kB: refused before any allocation."""
    data = bytearray(zip_of([("archive/data.pkl", b"\x80\x02}." + b"\0" * 1000)], zipfile.ZIP_DEFLATED))
    cd = data.index(b"PK\x01\x02")
    data[cd + 24:cd + 28] = struct.pack("<I", 0xFFFFFFFF)  # uncompressed size: see the zip64 field
    name_len, extra_len = struct.unpack("<HH", data[cd + 28:cd + 32])
    assert extra_len == 0
    extra = struct.pack("<HHQ", 1, 8, 2**40)
    data[cd + 30:cd + 32] = struct.pack("<H", len(extra))
    data[cd + 46 + name_len:cd + 46 + name_len] = extra
    eocd = data.index(b"PK\x05\x06")
    size = struct.unpack("<I", data[eocd + 12:eocd + 16])[0]
    data[eocd + 12:eocd + 16] = struct.pack("<I", size + len(extra))
    return bytes(data)


def bad_pickles():
    pickles = {
        "global_os_system.pkl": b"\x80\x02cos\nsystem\n" + unicode("ls") + b"\x85R.",
        "nested_2000.pkl": b"\x80\x02" + b"]" * 2000 + b"a" * 1999 + b".",
        "long4_huge.pkl": b"\x80\x02\x8b\xff\xff\xff\xff.",
        "memo_unset.pkl": b"\x80\x02h\x07.",
        "setitem_on_list.pkl": b"\x80\x02]K\x01K\x02s.",
    }
    root = TESTS / "data" / "bad" / "pickle"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for name, data in pickles.items():
        (root / name).write_bytes(data)


def hostile():
    items = entries(HERE / "dtypes.pth")
    small = HERE / "small_official.pth"  # a small training checkpoint, for the hostile variants
    save({"model": dtypes(), "epoch": 3, "args": argparse.Namespace(lr=0.1, model="soft_tiny")}, small)
    small_entries = entries(small)
    good = small.read_bytes()
    small.unlink()
    four_floats = struct.pack("<4f", 1, 2, 3, 4)

    def single(call, data=four_floats):
        return zip_of([("archive/data.pkl", one_tensor_pickle(call)), ("archive/data/0", data)])

    files = {
        # code execution: os.system('echo pwned') through REDUCE; builtins.eval through STACK_GLOBAL
        "global_os_system.pth": zip_of([("archive/data.pkl", b"\x80\x02cos\nsystem\n" + unicode("echo pwned") +
                                         b"\x85R.")]),
        "global_eval_stack.pth": zip_of([("archive/data.pkl", b"\x80\x04" + b"\x8c\x08builtins\x8c\x04eval\x93" +
                                          b"\x8c\x041+1\x85R.")]),
        "global_in_optimizer.pth": patched(small_entries, b"cargparse\nNamespace\n",
                                           b"csubprocess\nPopen\n"),
        "truncated.pth": good[:len(good) // 2],
        "truncated_pickle.pth": zip_of([("archive/data.pkl", one_tensor_pickle(
            tensor_call("0", "FloatStorage", 4, 0, [4], [1]))[:-20]), ("archive/data/0", four_floats)]),
        "storage_size_lie.pth": single(tensor_call("0", "FloatStorage", 400, 0, [400], [1])),
        "offset_past_end.pth": single(tensor_call("0", "FloatStorage", 4, 3, [2], [1])),
        "stride_past_end.pth": single(tensor_call("0", "FloatStorage", 4, 0, [2, 2], [4, 1])),
        "shape_overflow.pth": single(tensor_call("0", "FloatStorage", 4, 0, [2**40, 2**40, 2**40], [1, 1, 1])),
        "huge_declared.pth": single(tensor_call("0", "FloatStorage", 2**62, 0, [2**62], [1])),
        "expanded_huge.pth": single(tensor_call("0", "FloatStorage", 4, 0, [2**30, 4], [0, 1])),
        "missing_storage.pth": zip_of([("archive/data.pkl", one_tensor_pickle(
            tensor_call("7", "FloatStorage", 4, 0, [4], [1]))), ("archive/data/0", four_floats)]),
        "unknown_storage.pth": single(tensor_call("0", "ComplexFloatStorage", 2, 0, [2], [1])),
        # a list nested a million deep (the entry deflated: a few kB on disk)
        "nested_million.pth": zip_of([("archive/data.pkl", b"\x80\x02" + b"]" * 1000000 + b"a" * 999999 + b".")],
                                     zipfile.ZIP_DEFLATED),
        "garbage.pth": bytes((i * 131 + 7) % 256 for i in range(4096)),
        "not_zip_header.pth": b"PK\x03\x04" + b"\0" * 60,
        "no_data_pkl.pth": zip_of([("archive/version", b"3\n")]),
        "bad_crc.pth": bytearray(zip_of(items)),
        "list_root.pth": zip_of([("archive/data.pkl", b"\x80\x02](K\x01K\x02e.")]),
        "bad_opcode.pth": zip_of([("archive/data.pkl", b"\x80\x02I42\n.")]),
        "deflate_bomb.pth": deflate_bomb(),
    }
    # bad_crc: flip a byte inside the first storage's data
    data_at = bytes(files["bad_crc.pth"]).index(items[1][1][:8])
    files["bad_crc.pth"][data_at] ^= 0xFF
    files["bad_crc.pth"] = bytes(files["bad_crc.pth"])
    shutil.rmtree(BAD, ignore_errors=True)
    BAD.mkdir(parents=True)
    for name, data in files.items():
        (BAD / name).write_bytes(data)


def main():
    torch.manual_seed(0)
    state = golden_state()
    save(official(state), HERE / "official.pth")
    save(bare_views(state), HERE / "bare_views.pth")
    save(dtypes(), HERE / "dtypes.pth")
    (HERE / "deflated.pth").write_bytes(zip_of(entries(HERE / "dtypes.pth"), zipfile.ZIP_DEFLATED))
    save({"w": torch.ones(2)}, HERE / "legacy.pth", _use_new_zipfile_serialization=False)
    # torch itself reads what it should (the deflated copy included)
    assert torch.equal(torch.load(str(HERE / "deflated.pth"))["slice"], dtypes()["slice"])
    hostile()
    bad_pickles()
    shutil.rmtree(SEEDS, ignore_errors=True)
    SEEDS.mkdir(parents=True)
    for name in ("dtypes.pth", "deflated.pth"):
        shutil.copy(HERE / name, SEEDS / name)
    shutil.rmtree(PICKLE_SEEDS, ignore_errors=True)
    PICKLE_SEEDS.mkdir(parents=True)
    for name in ("dtypes.pth", "official.pth"):
        (PICKLE_SEEDS / (name[:-4] + ".pkl")).write_bytes(
            next(d for n, d in entries(HERE / name) if n.endswith("data.pkl")))


if __name__ == "__main__":
    main()
