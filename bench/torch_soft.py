#!/usr/bin/python3
"""PyTorch side of the benchmarks: the measurements of `soft bench` (tools/bench/) done with
PyTorch on the same models (our PyTorch script of the model, tests/golden/soft_reference.py,
built from the same configs/models/*.json), printed as the same result lines with impl=torch
(impl=torch-compile for a torch.compile'd model):

    result train impl=torch model=soft_tiny img=224 batch=8 device=cpu precision=fp32 ... step_ms=... ...
    result attn impl=torch attention=soft module=block tokens=65536 ... fwd_bwd_ms=... peak_rss_mib=...
    result gemm impl=torch n=1024 threads=2 steps=5 warmup=1 ms=... gflop_per_s=...

    /usr/bin/python3 bench/torch_soft.py train --model soft_tiny --img 224 --batch 8 --threads 2
    /usr/bin/python3 bench/torch_soft.py attn --tokens 65536 --dim 64 --heads 2 --ratio 8
    /usr/bin/python3 bench/torch_soft.py attn --sweep --tokens 1024,4096,16384,65536
    /usr/bin/python3 bench/torch_soft.py gemm --sizes 1024
    python3 bench/torch_soft.py train --model soft_tiny --batch 128 --device cuda --precision bf16 [--compile]
    python3 bench/torch_soft.py dwconv --device cuda --batch 128

On the CPU, Debian builds torch with BLAS_INFO=generic: matrix products go through whatever
libblas.so.3 the system's alternatives point at: the slow reference BLAS unless OpenBLAS is
installed (apt-get install libopenblas0). The first line of output ("# torch ...") says which one
is loaded. OPENBLAS_NUM_THREADS and OMP_NUM_THREADS are set to --threads before torch is imported,
and OMP_WAIT_POLICY to passive unless set (see below). On a GPU (--device cuda) TF32 is off for
products and convolutions, as in soft.cpp; each repetition ends with torch.cuda.synchronize(), and
the peak is torch.cuda.max_memory_allocated() over the timed repetitions (peak_device_mib=).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ATTN_LOCAL_KERNEL = 9  # stage 1's, as `soft bench attn`


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="benchmark", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--steps", type=int, default=None, help="timed repetitions (default 3; gemm 5)")
    common.add_argument("--warmup", type=int, default=1)
    common.add_argument("--threads", type=int, default=os.cpu_count())
    common.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    common.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16: torch.autocast (--device cuda)")
    train = sub.add_parser("train", parents=[common])
    train.add_argument("--model", required=True, help="a configs/models name or a JSON config path")
    train.add_argument("--img", type=int, default=None, help="default: the config's img_size")
    train.add_argument("--batch", type=int, required=True)
    train.add_argument("--macs", type=int, default=None,
                       help="forward MACs per image (soft info --json: macs.total) for GFLOP/s")
    train.add_argument("--compile", action="store_true", help="torch.compile the model (default mode)")
    attn = sub.add_parser("attn", parents=[common])
    attn.add_argument("--tokens", default=None, help="N (a square grid); with --sweep a list")
    attn.add_argument("--dim", type=int, default=64)
    attn.add_argument("--heads", type=int, default=2)
    attn.add_argument("--ratio", type=int, default=8)
    attn.add_argument("--kind", choices=("soft", "softmax"), default=None)
    attn.add_argument("--sweep", action="store_true", help="every --tokens in a child process")
    attn.add_argument("--softmax-cap-mib", type=int, default=1024)
    attn.add_argument("--cold-from", type=int, default=None, help="sweep: sizes from N tokens up without warm-up")
    dwconv = sub.add_parser("dwconv", parents=[common], help="soft_tiny's local depthwise convs, each direction")
    dwconv.add_argument("--batch", type=int, default=128)
    gemm = sub.add_parser("gemm", parents=[common])
    gemm.add_argument("--sizes", default="256,512,1024,2048")
    args = parser.parse_args()
    if args.steps is None:
        args.steps = 5 if args.benchmark == "gemm" else 3
    if args.benchmark == "attn" and not args.sweep and args.tokens is None:
        parser.error("attn: --tokens is required without --sweep")
    if args.precision == "bf16" and args.device == "cpu":
        parser.error("--precision bf16 needs --device cuda")
    if args.benchmark == "gemm" and args.device != "cpu":
        parser.error("gemm: the CPU only")
    return args


ARGS = parse_args()
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)
# torch's OpenMP threads and OpenBLAS's own thread pool both busy-wait between calls: 2 x T
# spinning threads on T cores. Sleeping OpenMP waits made soft_fmnist training steps 3-4x faster
# on a 2-core machine shared with other work (16 s -> 4 s), so PyTorch runs that way unless told.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
import soft_reference as ref  # noqa: E402

# soft.cpp's SoftConfig defaults (models/config.h) for keys a JSON config may leave out.
CONFIG_DEFAULTS = {"name": "soft", "img_size": 224, "in_chans": 3, "num_classes": 1000,
                   "embed_dims": [64, 128, 320, 512], "num_heads": [2, 4, 10, 16], "depths": [1, 2, 3, 2],
                   "stem_strides": [2, 1, 2], "patch_strides": [2, 2, 2], "landmark_strides": [8, 4, 2],
                   "local_kernels": [9, 5, 3], "newton_iterations": 20, "newton_form": "journal",
                   "mlp_ratio_stage4": 4, "drop_rate": 0.0, "drop_path_rate": 0.0}


def blas_library():
    """The BLAS shared library this process has loaded (after a first matrix product)."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "libblas" in line.lower() or "libopenblas" in line.lower()}
    return ", ".join(sorted(os.path.realpath(p) for p in paths)) or "none found"


def describe_device():
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "none (torch.cuda.is_available() is False)"
    return f"# torch {torch.__version__}, CUDA device: {name}, TF32 off"


def describe_blas():
    lib = blas_library()
    kind = "OpenBLAS" if "openblas" in lib.lower() else "MKL" if "mkl" in lib.lower() else \
        "reference BLAS (slow; apt-get install libopenblas0)"
    return (f"# torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, BLAS: {kind} ({lib})")


def reference_config(name_or_path):
    """configs/models/NAME.json (or a path) as soft_reference.py's config dict."""
    path = name_or_path if os.path.exists(name_or_path) else os.path.join(ROOT, "configs", "models",
                                                                            name_or_path + ".json")
    with open(path) as f:
        cfg = dict(CONFIG_DEFAULTS, **json.load(f))
    ref.STEM_WIDTH = cfg.pop("stem_width", 32)  # read by PatchEmbed when the model is built
    if cfg.pop("soft_norm", False):
        sys.exit(f"torch_soft.py: {path}: SOFT-Norm is not in soft_reference.py")
    grids = cfg.pop("pos_embed_grids", None)
    if grids is not None and grids != [g[0] for g in ref.stage_grids(cfg)]:
        sys.exit(f"torch_soft.py: {path}: pos_embed_grids other than the img_size grids are not supported")
    return ref.validate_config(cfg)


def synchronize():
    if ARGS.device == "cuda":
        torch.cuda.synchronize()


def start_peak():
    """After the warm-up: on a GPU the peak counts the timed repetitions only (as soft bench)."""
    if ARGS.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_field():
    if ARGS.device == "cuda":
        return {"peak_device_mib": f"{torch.cuda.max_memory_allocated() / 2**20:.1f}"}
    return {"peak_rss_mib": f"{peak_rss_mib():.1f}"}


def peak_rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_seconds(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    start_peak()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    mid = len(times) // 2
    return times[mid] if len(times) % 2 else 0.5 * (times[mid - 1] + times[mid])


def result_line(kind, **fields):
    return " ".join([f"result {kind}"] + [f"{k}={v}" for k, v in fields.items()])


def bench_train(args):
    cfg = reference_config(args.model)
    img = args.img or cfg["img_size"]
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = ref.SoftVisionTransformer(cfg).to(device).train()
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and not n.endswith(".bias") and n != "cls_token"]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim > 1 and not n.endswith(".bias")
                                                                 and n != "cls_token")]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=1e-3)
    images = torch.randn(args.batch, cfg["in_chans"], img, img, device=device)    # [B, C, H, W]
    labels = torch.arange(args.batch, device=device) % cfg["num_classes"]          # [B]
    forward = torch.compile(model) if args.compile else model

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = F.cross_entropy(forward(images), labels, label_smoothing=0.1)
        loss.backward()
        optimizer.step()

    seconds = median_seconds(step, args.steps, args.warmup)
    fields = dict(impl="torch-compile" if args.compile else "torch", model=cfg["name"], img=img, batch=args.batch,
                  device=args.device, precision=args.precision, threads=args.threads, steps=args.steps,
                  warmup=args.warmup, step_ms=f"{seconds * 1e3:.2f}", images_per_s=f"{args.batch / seconds:.2f}")
    if args.macs:
        fields["gflop_per_s"] = f"{3 * 2 * args.macs * args.batch / seconds / 1e9:.2f}"
    fields.update(peak_field())
    print(result_line("train", **fields))


def bench_attn_one(args, tokens, kind):
    side = round(tokens ** 0.5)
    if side * side != tokens:
        sys.exit(f"torch_soft.py: --tokens {tokens} is not a square grid")
    torch.manual_seed(0)
    if kind == "soft":
        block = ref.SoftTransformer(args.dim, args.heads, args.ratio, ATTN_LOCAL_KERNEL, 20, "journal", 0.0)
        forward = lambda x: block(x, side, side)  # noqa: E731
    else:
        block = ref.Block(args.dim, args.heads, 4, 0.0, 0.0)
        forward = block
    device = torch.device(args.device)
    block.to(device)
    x = torch.empty(1, tokens, args.dim, device=device).uniform_(-1, 1).requires_grad_()   # [1, N, C]
    probe = torch.empty(1, tokens, args.dim, device=device).uniform_(-1, 1)                # [1, N, C]

    def step():
        block.zero_grad(set_to_none=True)
        x.grad = None
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            (forward(x) * probe).sum().backward()

    seconds = median_seconds(step, args.steps, args.warmup)
    fields = dict(impl="torch", attention=kind, module="block", tokens=tokens, dim=args.dim, heads=args.heads)
    if kind == "soft":
        fields.update(ratio=args.ratio, landmarks=(side // args.ratio) ** 2)
    fields.update(device=args.device, precision=args.precision, threads=args.threads, steps=args.steps,
                  warmup=args.warmup, fwd_bwd_ms=f"{seconds * 1e3:.3f}", **peak_field())
    print(result_line("attn", **fields))


def bench_attn_sweep(args):
    tokens = [int(t) for t in (args.tokens or "1024,4096,16384,65536").split(",")]
    kinds = [args.kind] if args.kind else ["soft", "softmax"]
    print(f"# softmax runs while its attention matrix (heads x N x N float32) is at most {args.softmax_cap_mib} MiB")
    for n in tokens:
        for kind in kinds:
            matrix_mib = args.heads * n * n * 4 / 2**20
            if kind == "softmax" and matrix_mib > args.softmax_cap_mib:
                print(f"# {n} tokens softmax: skipped, {matrix_mib:.0f} MiB attention matrix > cap")
                continue
            child = [sys.executable, os.path.abspath(__file__), "attn", "--tokens", str(n), "--kind", kind,
                     "--dim", str(args.dim), "--heads", str(args.heads), "--ratio", str(args.ratio),
                     "--steps", str(args.steps), "--threads", str(args.threads), "--device", args.device,
                     "--precision", args.precision,
                     "--warmup", str(0 if args.cold_from and n >= args.cold_from else args.warmup)]
            done = subprocess.run(child, stdout=subprocess.PIPE, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("result attn ")]
            print(lines[0] if done.returncode == 0 and lines else
                  f"# {n} tokens {kind}: failed, exit status {done.returncode}", flush=True)


def bench_dwconv(args):
    """soft_tiny's local depthwise convs (stages 1-3 at 224 px), one direction at a time, as soft bench dwconv."""
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    with torch.no_grad():
        for heads, side, k in ((2, 56, 9), (4, 28, 5), (10, 14, 3)):
            shape, w_shape = (args.batch * 32, heads, side, side), (heads, 1, k, k)
            x = torch.empty(shape, device=device, dtype=dtype).uniform_(-1, 1)      # [B*d, h, H, W]
            w = torch.empty(w_shape, device=device, dtype=dtype).uniform_(-1, 1)    # [h, 1, k, k]
            gy = torch.empty(shape, device=device, dtype=dtype).uniform_(-1, 1)     # [B*d, h, H, W]
            directions = (
                ("forward", lambda: F.conv2d(x, w, None, 1, k // 2, 1, heads)),
                ("grad_input", lambda: torch.nn.grad.conv2d_input(shape, w, gy, 1, k // 2, 1, heads)),
                ("grad_weight", lambda: torch.nn.grad.conv2d_weight(x, w_shape, gy, 1, k // 2, 1, heads)),
            )
            for direction, fn in directions:
                seconds = median_seconds(fn, args.steps, args.warmup)
                print(result_line("dwconv", impl="torch", input="x".join(map(str, shape)), kernel=k,
                                  device=args.device, precision=args.precision, direction=direction,
                                  threads=args.threads, steps=args.steps, ms=f"{seconds * 1e3:.3f}"))


def bench_gemm(args):
    for n in [int(s) for s in args.sizes.split(",")]:
        torch.manual_seed(0)
        a, b = torch.empty(n, n).uniform_(-1, 1), torch.empty(n, n).uniform_(-1, 1)
        c = torch.empty(n, n)
        seconds = median_seconds(lambda: torch.mm(a, b, out=c), args.steps, args.warmup)
        print(result_line("gemm", impl="torch", n=n, threads=args.threads, steps=args.steps, warmup=args.warmup,
                          ms=f"{seconds * 1e3:.3f}", gflop_per_s=f"{2 * n ** 3 / seconds / 1e9:.2f}"))


def main(args):
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(True)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("torch_soft.py: --device cuda: no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    print(describe_device() if args.device == "cuda" else describe_blas(), flush=True)
    if args.benchmark == "train":
        bench_train(args)
    elif args.benchmark == "attn" and args.sweep:
        bench_attn_sweep(args)
    elif args.benchmark == "attn":
        bench_attn_one(args, int(args.tokens), args.kind or "soft")
    elif args.benchmark == "dwconv":
        bench_dwconv(args)
    else:
        bench_gemm(args)


if __name__ == "__main__":
    main(ARGS)
