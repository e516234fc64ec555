#!/usr/bin/env python3
"""Writes gpu-summary.json from what scripts/gpu-check.sh recorded: the benchmark lines of both
sides (bench-results.txt) and each step's own output (steps/*.log). A number that was not
measured (a step skipped, timed out or crashed) is null.

    python3 scripts/gpu_summary.py BUILD_DIR DEVICE_NAME COMMIT > BUILD_DIR/gpu-summary.json
"""
import datetime
import glob
import json
import os
import re
import sys


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


def main():
    build, device, commit = sys.argv[1], sys.argv[2], sys.argv[3]
    bench = open(os.path.join(build, "bench-results.txt")).read() if os.path.exists(
        os.path.join(build, "bench-results.txt")) else ""

    def number(pattern):
        m = re.search(pattern, bench, re.MULTILINE)
        return float(m.group(1)) if m else None

    def train(side, precision):
        return number(rf"^{side} train soft_tiny img 224 batch 128 {precision}: ([0-9.]+) images/s$")

    def attn(side, tokens, what):
        group = r"([0-9.]+) ms" if what == "ms" else r"[0-9.]+ ms, peak ([0-9.]+) MiB"
        return number(rf"^{side} attn soft tokens {tokens}: {group}")

    summary = {
        "device": device,
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "cuda_tests_failed": total(step_text(build, "CUDA_tests"), r"test cases:.*\|\s*(\d+) failed"),
        "memcheck_errors": total(step_text(build, "memcheck"), r"ERROR SUMMARY: (\d+) error"),
        "racecheck_errors": total(step_text(build, "racecheck"), r"RACECHECK SUMMARY: (\d+) hazard"),
        "train_fp32_img_s": train("soft", "fp32"),
        "torch_train_fp32_img_s": train("torch", "fp32"),
        "train_bf16_img_s": train("soft", "bf16"),
        "torch_train_bf16_img_s": train("torch", "bf16"),
        "torch_compile_train_bf16_img_s": number(r"^torch-compile train soft_tiny img 224 batch 128 bf16: "
                                                 r"([0-9.]+) images/s$"),
        "attn_16k_ms": attn("soft", 16384, "ms"),
        "torch_attn_16k_ms": attn("torch", 16384, "ms"),
        "attn_64k_ms": attn("soft", 65536, "ms"),
        "torch_attn_64k_ms": attn("torch", 65536, "ms"),
        "attn_64k_peak_mib": attn("soft", 65536, "peak"),
        "torch_attn_64k_peak_mib": attn("torch", 65536, "peak"),
    }
    json.dump(summary, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
