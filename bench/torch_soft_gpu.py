#!/usr/bin/env python3
"""PyTorch eager side of the GPU benchmarks: the same SOFT models (our own PyTorch script of
the model, tests/golden/soft_reference.py) timed on the same card. Prints one line per result in
the format of build/bench/gpu_bench, so scripts/gpu-check.sh can print ratios.

    python3 bench/torch_soft_gpu.py train --model soft_tiny --img 224 --batch 128 --steps 10
    python3 bench/torch_soft_gpu.py attn --tokens 1024,4096,16384,65536
    python3 bench/torch_soft_gpu.py dwconv --batch 128 --steps 20
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "golden"))
import soft_reference as ref  # noqa: E402


def timed(fn, steps, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def bench_train(args):
    cfg = ref.official_config(args.model, img_size=args.img)
    model = ref.SoftVisionTransformer(cfg).cuda().train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)  # the same update as gpu_bench (plain SGD)
    x = torch.randn(args.batch, 3, args.img, args.img, device="cuda")
    y = torch.randint(0, 1000, (args.batch,), device="cuda")
    for precision in ("fp32", "bf16"):
        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.1)
            loss.backward()
            opt.step()
        seconds = timed(step, args.steps)
        print(f"torch train {args.model} img {args.img} batch {args.batch} {precision}: "
              f"{args.batch / seconds:.1f} images/s")


def bench_attn(args):
    for tokens in [int(t) for t in args.tokens.split(",")]:
        side = int(round(tokens ** 0.5))
        for kind in ("soft", "softmax"):
            if kind == "soft":
                layer = ref.SoftAttention(args.dim, args.heads, 8, 9, 20, "journal").cuda()
                run = lambda x: layer(x, side, side)  # noqa: E731
            else:
                layer = ref.SoftmaxAttention(args.dim, args.heads, 0.0).cuda()
                run = layer
            x = torch.randn(1, side * side, args.dim, device="cuda", requires_grad=True)
            try:
                torch.cuda.reset_peak_memory_stats()
                seconds = timed(lambda: run(x).sum().backward(), 5, warmup=2)
                peak = torch.cuda.max_memory_allocated() / 2**20
                print(f"torch attn {kind} tokens {side * side}: {seconds * 1e3:.2f} ms, peak {peak:.1f} MiB")
            except torch.cuda.OutOfMemoryError:
                print(f"torch attn {kind} tokens {side * side}: out of memory")
            torch.cuda.empty_cache()


def bench_dwconv(args):
    """soft_tiny's local depthwise convs (stages 1-3 at 224 px), one direction at a time."""
    for heads, side, k in ((2, 56, 9), (4, 28, 5), (10, 14, 3)):
        shape = (args.batch * 32, heads, side, side)
        w_shape = (heads, 1, k, k)
        for precision in ("fp32", "bf16"):
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            x = torch.rand(shape, device="cuda", dtype=dtype) * 2 - 1
            w = torch.rand(w_shape, device="cuda", dtype=dtype) * 2 - 1
            gy = torch.rand(shape, device="cuda", dtype=dtype) * 2 - 1
            conv = torch.nn.functional.conv2d
            directions = (
                ("forward", lambda: conv(x, w, None, 1, k // 2, 1, heads)),
                ("grad_input", lambda: torch.nn.grad.conv2d_input(shape, w, gy, 1, k // 2, 1, heads)),
                ("grad_weight", lambda: torch.nn.grad.conv2d_weight(x, w_shape, gy, 1, k // 2, 1, heads)),
            )
            with torch.no_grad():
                for direction, fn in directions:
                    ms = timed(fn, args.steps) * 1e3
                    print(f"torch dwconv [{', '.join(map(str, shape))}] k{k} {precision} {direction}: {ms:.3f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train")
    train.add_argument("--model", default="soft_tiny")
    train.add_argument("--img", type=int, default=224)
    train.add_argument("--batch", type=int, default=128)
    train.add_argument("--steps", type=int, default=10)
    attn = sub.add_parser("attn")
    attn.add_argument("--tokens", default="1024,4096,16384,65536")
    attn.add_argument("--dim", type=int, default=64)
    attn.add_argument("--heads", type=int, default=2)
    dwconv = sub.add_parser("dwconv")
    dwconv.add_argument("--batch", type=int, default=128)
    dwconv.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("torch_soft_gpu.py: no CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    {"train": bench_train, "attn": bench_attn, "dwconv": bench_dwconv}[args.command](args)


if __name__ == "__main__":
    main()
