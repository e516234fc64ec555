#!/usr/bin/env python3
"""What scripts/gpu-check.sh recorded, summarised: the `result` lines of both sides (`soft bench`
and bench/torch_soft.py, in bench-results.txt) and each step's own output (steps/*.log).

    python3 scripts/gpu_summary.py BUILD_DIR DEVICE_NAME COMMIT > BUILD_DIR/gpu-summary.json
    python3 scripts/gpu_summary.py --table BUILD_DIR/bench-results.txt   # side by side, with ratios

A number that was not measured (a step skipped, timed out or crashed) is null. Model-FLOP
utilisation (MFU) is a side's training FLOP/s (3 x 2 x the forward MACs of `soft info` per image,
as `soft bench train` counts them) over the card's dense peak for that precision (TF32 is off, so
fp32 runs on the CUDA cores); null for a card not in PEAK_TFLOPS.
"""
import datetime
import glob
import json
import os
import re
import sys

# Dense peak TFLOP/s of the SXM cards (NVIDIA's data sheets): bf16 tensor cores, fp32 CUDA cores.
PEAK_TFLOPS = {"H100": {"bf16": 989.4, "fp32": 66.9}, "H200": {"bf16": 989.4, "fp32": 66.9}}


def result_lines(path):
    """Every `result KIND key=value ...` line of a file, as dicts with the kind under "result"."""
    rows = []
    if not os.path.exists(path):
        return rows
    for line in open(path, errors="replace"):
        words = line.split()
        if len(words) < 2 or words[0] != "result":
            continue
        fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
        fields["result"] = words[1]
        rows.append(fields)
    return rows


def find(rows, **match):
    """The first row whose fields equal `match`, or None."""
    for row in rows:
        if all(row.get(k) == str(v) for k, v in match.items()):
            return row
    return None


def number(row, key):
    return float(row[key]) if row is not None and key in row else None


def train_row(rows, impl, precision):
    return find(rows, result="train", impl=impl, model="soft_tiny", img=224, batch=128, precision=precision)


def attn_row(rows, impl, tokens, attention="soft"):
    return find(rows, result="attn", impl=impl, attention=attention, tokens=tokens)


def peak_of(row):
    return number(row, "peak_device_mib") if row is not None and "peak_device_mib" in row else \
        number(row, "peak_rss_mib")


def flop_per_image(rows):
    """Training FLOP per image from soft.cpp's own line (gflop_per_s / images_per_s)."""
    for precision in ("fp32", "bf16"):
        row = train_row(rows, "soft", precision)
        if number(row, "gflop_per_s") and number(row, "images_per_s"):
            return number(row, "gflop_per_s") * 1e9 / number(row, "images_per_s")
    return None


def mfu(images_per_s, flop, device, precision):
    peak = next((p for name, p in PEAK_TFLOPS.items() if name in device), None)
    if images_per_s is None or flop is None or peak is None:
        return None
    return round(images_per_s * flop / (peak[precision] * 1e12), 4)


def step_text(build, prefix):
    """The output of the steps whose file name starts with `prefix`, joined."""
    files = sorted(glob.glob(os.path.join(build, "steps", prefix + "*.log")))
    return "\n".join(open(f, errors="replace").read() for f in files) if files else None


def total(text, pattern):
    """The sum of the first group of every match of `pattern`, or None when nothing matched."""
    if text is None:
        return None
    found = [int(m.group(1)) for m in re.finditer(pattern, text)]
    return sum(found) if found else None


def summary(build, device, commit):
    rows = result_lines(os.path.join(build, "bench-results.txt"))
    flop = flop_per_image(rows)

    def images(impl, precision):
        return number(train_row(rows, impl, precision), "images_per_s")

    s = {
        "device": device,
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "cuda_tests_failed": total(step_text(build, "CUDA_tests"), r"test cases:.*\|\s*(\d+) failed"),
        "memcheck_errors": total(step_text(build, "memcheck"), r"ERROR SUMMARY: (\d+) error"),
        "racecheck_errors": total(step_text(build, "racecheck"), r"RACECHECK SUMMARY: (\d+) hazard"),
        "train_fp32_img_s": images("soft", "fp32"),
        "torch_train_fp32_img_s": images("torch", "fp32"),
        "train_bf16_img_s": images("soft", "bf16"),
        "torch_train_bf16_img_s": images("torch", "bf16"),
        "torch_compile_train_bf16_img_s": images("torch-compile", "bf16"),
        "attn_16k_ms": number(attn_row(rows, "soft", 16384), "fwd_bwd_ms"),
        "torch_attn_16k_ms": number(attn_row(rows, "torch", 16384), "fwd_bwd_ms"),
        "attn_64k_ms": number(attn_row(rows, "soft", 65536), "fwd_bwd_ms"),
        "torch_attn_64k_ms": number(attn_row(rows, "torch", 65536), "fwd_bwd_ms"),
        "attn_64k_peak_mib": peak_of(attn_row(rows, "soft", 65536)),
        "torch_attn_64k_peak_mib": peak_of(attn_row(rows, "torch", 65536)),
    }
    for side, impl in (("", "soft"), ("torch_", "torch"), ("torch_compile_", "torch-compile")):
        for precision in ("fp32", "bf16"):
            s[f"{side}train_{precision}_mfu"] = mfu(images(impl, precision), flop, device, precision)
    return s


def table(path):
    """soft.cpp beside PyTorch (and beside itself on cuDNN's depthwise convs) for every benchmark
    measured by both, with the speed-up."""
    rows = result_lines(path)
    lines = []
    for row in rows:
        if row.get("impl") != "soft" or row.get("backend") == "cudnn":
            continue
        kind = row["result"]
        if kind == "train":
            key = dict(model=row["model"], img=row["img"], batch=row["batch"], precision=row["precision"])
            what, unit, higher_is_better = f"train {row['model']} {row['precision']}", "images_per_s", True
            others = [dict(impl=i) for i in ("torch", "torch-compile", "soft-cudnn-dw")]
        elif kind == "attn":
            key = dict(attention=row["attention"], tokens=row["tokens"])
            what, unit, higher_is_better = f"attn {row['attention']} {row['tokens']} tokens", "fwd_bwd_ms", False
            others = [dict(impl="torch")]
        elif kind == "dwconv":
            key = dict(input=row["input"], kernel=row["kernel"], precision=row["precision"],
                       direction=row["direction"])
            what = f"dwconv k{row['kernel']} {row['precision']} {row['direction']}"
            unit, higher_is_better = "ms", False
            others = [dict(impl="torch"), dict(impl="soft", backend="cudnn")]
        else:
            continue
        for other_key in others:
            other = find(rows, result=kind, **other_key, **key)
            if other is None:
                continue
            a, b = float(row[unit]), float(other[unit])
            ratio = a / b if higher_is_better else b / a
            name = other_key["impl"] + ("-" + other_key["backend"] if "backend" in other_key else "")
            peaks = f"  peak {peak_of(row):9.1f} / {peak_of(other):9.1f} MiB" if peak_of(row) and peak_of(other) else ""
            lines.append(f"{what:34s} soft.cpp {a:9.2f}  {name:13s} {b:9.2f} {unit:13s} "
                         f"speed-up {ratio:5.2f}x{peaks}")
    print("\n".join(lines) if lines else "(no benchmark measured by both sides)")


def main():
    if sys.argv[1] == "--table":
        table(sys.argv[2])
        return
    json.dump(summary(*sys.argv[1:4]), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
