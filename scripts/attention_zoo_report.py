#!/usr/bin/env python3
"""Writes the measured part of docs/ATTENTION_ZOO.md and the accuracy-curve SVG from the run
folders of scripts/compare-attention.sh (see there). Only the text between the markers
<!-- zoo-results:begin --> and <!-- zoo-results:end --> of the document is replaced."""
import argparse
import json
import os
import re

BEGIN, END = "<!-- zoo-results:begin -->", "<!-- zoo-results:end -->"
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
# The SOFT paper's ImageNet comparison at its Tiny configuration (Lu et al., NeurIPS 2021, the table
# comparing linear transformers on the same multi-stage backbone): top-1 %, for reference only.
PAPER_TOP1 = {"softmax": "79.1", "linformer": "78.2", "performer": "76.1", "nystrom": "78.6", "soft": "79.3"}
NAMES = {"soft": "SOFT", "softmax": "softmax (Transformer)", "linformer": "Linformer", "performer": "Performer",
         "nystrom": "Nystromformer"}


def read_metrics(path):
    train, evals = [], []
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            (train if row["kind"] == "train" else evals if row["kind"] == "eval" else []).append(row)
    return train, evals


def peak_rss_mib(path):
    with open(path) as f:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
    return int(m.group(1)) / 1024 if m else float("nan")


def svg_curves(series, title):
    """series: [(label, [(epoch, top1 %)])] -> an SVG line plot of test top-1 against epochs."""
    w, h, left, right, top, bottom = 640, 400, 60, 170, 40, 50
    xs = [x for _, pts in series for x, _ in pts] or [1]
    ys = [y for _, pts in series for _, y in pts] or [0, 100]
    x_max = max(xs)
    y_lo, y_hi = max(0.0, min(ys) - 2), min(100.0, max(ys) + 1)
    px = lambda x: left + (w - left - right) * x / x_max
    py = lambda y: top + (h - top - bottom) * (1 - (y - y_lo) / (y_hi - y_lo))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2 - 60}" y="20" font-size="14">{title}</text>',
           f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>',
           f'<text x="{(left + w - right) / 2 - 20}" y="{h - 12}">epoch</text>',
           f'<text x="14" y="{top - 10}">test top-1 %</text>']
    for i in range(6):
        y = y_lo + (y_hi - y_lo) * i / 5
        out.append(f'<line x1="{left - 4}" y1="{py(y):.1f}" x2="{w - right}" y2="{py(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 40}" y="{py(y) + 4:.1f}">{y:.1f}</text>')
    for e in sorted(set(xs)):
        out.append(f'<text x="{px(e) - 4:.1f}" y="{h - bottom + 16}">{e:g}</text>')
    for i, (label, pts) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        out.append(f'<rect x="{w - right + 12}" y="{top + 18 * i}" width="12" height="3" fill="{colour}"/>')
        out.append(f'<text x="{w - right + 30}" y="{top + 18 * i + 5}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--kinds", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--svg", required=True)
    a = ap.parse_args()
    kinds = a.kinds.split()
    overrides = open(os.path.join(a.out, "overrides.txt")).read().split()
    schedule = " ".join(o for o in overrides if o != "--set") or "(none)"
    machine_file = os.path.join(a.out, "machine.txt")
    machine = open(machine_file).read().strip() if os.path.exists(machine_file) else "not recorded"

    rows, series = [], []
    for kind in kinds:
        train, evals = read_metrics(os.path.join(a.out, f"run_{kind}", "metrics.jsonl"))
        info = json.load(open(os.path.join(a.out, f"info_{kind}.json")))
        steady = [r["images_per_s"] for r in train[1:]] or [r["images_per_s"] for r in train]
        last = evals[-1]
        rows.append(
            f"| {NAMES.get(kind, kind)} | {info['stages'][0]['attention_detail']} | {100 * last['top1']:.2f} | "
            f"{100 * max(e['top1'] for e in evals):.2f} | {info['parameters'] / 1e6:.3f} M | "
            f"{info['macs']['total'] / 1e6:.1f} M | {sum(steady) / len(steady):.0f} | "
            f"{peak_rss_mib(os.path.join(a.out, f'time_{kind}.txt')):.0f} | {PAPER_TOP1.get(kind, '-')} |")
        series.append((NAMES.get(kind, kind), [(e["epoch"], 100 * e["top1"]) for e in evals]))

    text = "\n".join([
        BEGIN,
        "Written by `scripts/compare-attention.sh` (do not edit by hand). Model `soft_fmnist_s` with the "
        "attention of stages 1-3 replaced, `configs/train/fmnist.json`, seed 0; schedule overrides: "
        f"`{schedule}`. CPU: {machine} as the runs began. Top-1 is "
        "the plain model's on the 10,000 test images after the last epoch (the EMA lags on so short a "
        "schedule); peak memory is the training process's maximum resident set. MACs are one 28x28 image's "
        "forward pass (`soft info`).",
        "",
        "| attention (stages 1-3) | settings (stage 1) | top-1 % | best top-1 % | parameters | MACs | "
        "train images/s | peak RSS MiB | paper ImageNet top-1 % (Tiny) |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "![test top-1 against epochs](attention_zoo_curves.svg)",
        END,
    ])
    doc = open(a.doc).read()
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + text + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    with open(a.doc, "w") as f:
        f.write(doc)
    with open(a.svg, "w") as f:
        f.write(svg_curves(series, "Fashion-MNIST, attention of stages 1-3"))
    print(f"wrote {a.doc} and {a.svg}")


if __name__ == "__main__":
    main()
