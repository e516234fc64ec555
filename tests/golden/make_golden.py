#!/usr/bin/env python3
"""Writes the golden fixtures of soft.cpp's end-to-end test (see README.md here).

    python3 tests/golden/make_golden.py        # a python3 with torch (Debian: /usr/bin/python3)

A small SOFT model (all four stages, every layer type) is built from
soft_reference.py, its weights are perturbed away from the constant inits so
that every bias/affine parameter matters, every stored value is rounded to
float32 (so the files hold the exact values the float64 reference used), and
then, computing in float64:
  - the eval-mode logits (and a few intermediate activations) are written,
  - one training-mode forward/backward (dropout 0, drop path 0) with
    cross-entropy + label smoothing 0.1 gives the loss and every gradient.
The script also checks the journal-form Newton backward and prints how far a
float32 run of the same reference is from the float64 one.
"""

import os
import re
import sys

try:
    import torch
except ImportError:
    # pyenv's python3 may shadow the Debian one that has python3-torch
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import soft_reference as ref  # noqa: E402

SEED = 20211021
LABEL_SMOOTHING = 0.1
INPUT_SHAPE = (2, 3, 64, 56)      # non-square and != img_size: exercises the pos-embed resize
LABELS = [3, 7]

GOLDEN_CONFIG = {
    "name": "soft_golden",
    "img_size": 64,
    "in_chans": 3,
    "num_classes": 10,
    "embed_dims": [16, 24, 32, 40],
    "num_heads": [2, 3, 4, 5],            # head dim 8 everywhere (official: 32)
    "depths": [1, 2, 1, 1],
    "stem_strides": [2, 1, 2],
    "patch_strides": [2, 2, 2],
    "landmark_strides": [4, 2, 2],
    "local_kernels": [9, 5, 3],
    "newton_iterations": 20,
    "newton_form": "journal",
    "mlp_ratio_stage4": 4,
    "drop_rate": 0.0,
    "drop_path_rate": 0.0,
}

# A conv directly followed by BatchNorm: in training mode its bias gradient is zero in exact
# arithmetic (BN removes the per-channel mean), so the stored value is rounding noise.
PRE_BN_BIAS = re.compile(r"^patch_embed\d\.proj\.[036]\.bias$")   # conv indices in proj


def path(name):
    return os.path.join(HERE, name)


def perturb_for_golden(model, gen):
    """Replace the official init by one where nothing is constant (so a swapped or dropped
    bias/affine shows up) and activations are O(1) (so every branch moves the logits)."""
    def normal(t, std, mean=0.0):
        t.copy_(mean + std * torch.randn(t.shape, generator=gen, dtype=t.dtype))

    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Linear):
                normal(m.weight, m.in_features ** -0.5)
                normal(m.bias, 0.1)
            elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                normal(m.weight, 0.2, 1.0)
                normal(m.bias, 0.1)
            elif isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                normal(m.weight, fan_in ** -0.5)
                if m.bias is not None:
                    normal(m.bias, 0.1)
        for p in (model.pos_embed1, model.pos_embed2, model.pos_embed3, model.pos_embed4, model.cls_token):
            normal(p, 0.5)


def move_bn_statistics(model, gen, steps=3):
    """A few training-mode forwards on shifted random data so that running_mean/var are not 0/1."""
    model.train()
    with torch.no_grad():
        for i in range(steps):
            x = 1.5 * torch.randn(INPUT_SHAPE, generator=gen, dtype=torch.float64) + 0.3 * (i + 1)
            model(x)
    model.eval()


def round_state_to_float32(model):
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.float().double())


def float_state(model):
    """All parameters and buffers, floats as float32 (lossless after rounding), counters as int64."""
    out = {}
    for k, t in model.state_dict().items():
        out[k] = t.detach().float() if t.is_floating_point() else t.detach().long()
    return out


def normwise_error(a, b):
    """max|a - b| / max|b|"""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()


def record_activations(model):
    """Forward hooks that keep each stage's output (eval run), for debugging the C++ side."""
    acts, handles = {}, []

    def keep(name):
        def hook(_module, _inputs, output):
            acts[name] = output.detach().clone()
        return hook

    for s, blocks in enumerate((model.block1, model.block2, model.block3, model.block4), start=1):
        handles.append(blocks[-1].register_forward_hook(keep(f"stage{s}")))
    handles.append(model.norm.register_forward_hook(keep("norm")))
    return acts, handles


def train_step(model, x, labels):
    """One training-mode forward/backward; returns loss, grads and the BN buffers after it."""
    model.train()
    model.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, labels, label_smoothing=LABEL_SMOOTHING)
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    running = {k: b.detach().clone() for k, b in model.named_buffers()}
    model.eval()
    return loss.detach(), logits.detach(), grads, running


def check_newton_backward(gen):
    """The journal form runs the Newton iterations without autograd and back-propagates the
    exact-inverse rule once at the result V: dL/dK2 = -(V^T G V^T).  (The official
    _NewtonInverseKernel does this in training and eval alike; that this file's reference
    matches the official code was checked once, on CPU in float64, see README.md.)"""
    d, m = 8, 12
    lm = F.gelu(F.layer_norm(torch.randn(2, 3, m, d, generator=gen, dtype=torch.float64), (d,)))
    k2 = ref.gaussian_kernel(lm, lm).requires_grad_(True)
    g = torch.randn(2, 3, m, m, generator=gen, dtype=torch.float64)

    v = ref.newton_inverse(k2, 20, "journal")
    (grad_fn,) = torch.autograd.grad((v * g).sum(), k2)
    vt = v.detach().transpose(-1, -2)
    formula = -(vt @ g @ vt)
    err_formula = normwise_error(grad_fn, formula)
    assert err_formula < 1e-14, f"journal backward is not -(V^T G V^T): {err_formula}"

    # alpha depends on K2 but carries no gradient: only the one-step rule contributes
    eye = torch.eye(m, dtype=torch.float64)
    k2d = k2.detach().clone().requires_grad_(True)
    exact = torch.linalg.inv(k2d + 0.01 * eye)
    (grad_exact,) = torch.autograd.grad((exact * g).sum(), k2d)
    err_fwd = normwise_error(v.detach(), exact.detach())
    err_exact = normwise_error(grad_fn, grad_exact)

    k2u = k2.detach().clone().requires_grad_(True)
    unrolled = ref.newton_iterate_journal(k2u, 20)       # autograd through alpha and all 20 steps
    (grad_unrolled,) = torch.autograd.grad((unrolled * g).sum(), k2u)
    err_unrolled = normwise_error(grad_fn, grad_unrolled)
    print(f"newton journal backward: == -(V^T G V^T) to {err_formula:.1e}; "
          f"V vs inv(K2+0.01I) {err_fwd:.1e}; grad vs exact-inverse grad {err_exact:.1e}; "
          f"vs autograd through the loop {err_unrolled:.1e}")
    assert err_exact < 1e-6 and err_fwd < 1e-8, "Newton did not converge on a well-conditioned K2"


def newton_residuals(model, x):
    """max |P V - I| of every SOFT layer's Newton result in an eval run (diagnostic)."""
    out = []
    kernels = [blk.att.mha.attn for blocks in (model.block1, model.block2, model.block3) for blk in blocks]
    saved = ref.newton_inverse

    def spy(k2, iterations, form):
        v = saved(k2, iterations, form)
        eye = torch.eye(k2.shape[-1], dtype=k2.dtype)
        out.append(((k2 + 0.01 * eye) @ v - eye).abs().max().item())
        return v

    ref.newton_inverse = spy
    try:
        with torch.no_grad():
            model(x)
    finally:
        ref.newton_inverse = saved
    assert len(out) == len(kernels)
    return out


def main():
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    cfg = ref.validate_config(dict(GOLDEN_CONFIG))

    model = ref.build_model(cfg).double()
    perturb_for_golden(model, gen)
    round_state_to_float32(model)
    move_bn_statistics(model, gen)
    round_state_to_float32(model)

    x = torch.randn(INPUT_SHAPE, generator=gen, dtype=torch.float64).float().double()
    labels = torch.tensor(LABELS, dtype=torch.int64)

    # eval-mode forward
    model.eval()
    acts, handles = record_activations(model)
    with torch.no_grad():
        logits = model(x)
    for h in handles:
        h.remove()
    acts["features"] = acts.pop("norm")[:, 0]

    # reload the rounded state into a fresh model: the files alone reproduce the numbers
    state = float_state(model)
    fresh = ref.build_model(cfg).double()
    fresh.load_state_dict({k: (v.double() if v.is_floating_point() else v) for k, v in state.items()})
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(x), logits)

    loss, train_logits, grads, running = train_step(fresh, x, labels)

    # the same reference in float32, to size what a float32 C++ run can reach
    m32 = ref.build_model(cfg)
    m32.load_state_dict({k: v for k, v in state.items()})
    m32.eval()
    with torch.no_grad():
        logits32 = m32(x.float())
    loss32, _, grads32, _ = train_step(m32, x.float(), labels)

    gmax = max(g.abs().max().item() for g in grads.values())
    zero_grads = sorted(k for k in grads if PRE_BN_BIAS.match(k))
    for k in zero_grads:
        assert grads[k].abs().max().item() < 1e-10 * gmax, k
    worst32 = max((normwise_error(grads32[k].double(), g), k) for k, g in grads.items() if k not in zero_grads)

    meta = {"generator": "tests/golden/make_golden.py", "compute_dtype": "float64",
            "torch": torch.__version__, "seed": str(SEED)}
    ref.save_config(cfg, path("golden_config.json"))
    ref.save_safetensors(state, path("golden_weights.safetensors"), meta)
    ref.save_safetensors({"input": x.float()}, path("golden_input.safetensors"), meta)
    eval_out = {"logits": logits}
    eval_out.update({f"act.{k}": v for k, v in acts.items()})
    ref.save_safetensors(eval_out, path("golden_eval.safetensors"), meta)
    train_out = {"loss": loss.reshape(1), "labels": labels, "logits": train_logits}
    train_out.update({f"grad.{k}": g for k, g in grads.items()})
    train_out.update({f"running.{k}": b for k, b in running.items()})
    train_meta = dict(meta, label_smoothing=str(LABEL_SMOOTHING),
                      zero_grads=",".join(zero_grads))
    ref.save_safetensors(train_out, path("golden_train.safetensors"), train_meta)

    # read everything back through the reader
    assert torch.equal(ref.load_safetensors(path("golden_eval.safetensors"))["logits"], logits)
    back = ref.load_safetensors(path("golden_weights.safetensors"))
    assert all(torch.equal(back[k], v) for k, v in state.items())

    check_newton_backward(gen)

    n_params = ref.count_parameters(model)
    print(f"config {cfg['name']}: {n_params:,} parameters, input {list(x.shape)}, "
          f"grids {ref.stage_grids(cfg, x.shape[2], x.shape[3])}")
    print("newton max|P V - I| per SOFT layer:", ", ".join(f"{r:.1e}" for r in newton_residuals(fresh, x)))
    torch.set_printoptions(precision=6, linewidth=120)
    print("eval logits:\n", logits)
    print(f"train loss {loss.item():.12f}   (float32 run: normwise diff {abs(loss32.item() - loss.item()) / loss.item():.1e})")
    print(f"float32 vs float64: logits {normwise_error(logits32.double(), logits):.1e}, "
          f"worst gradient {worst32[0]:.1e} ({worst32[1]})")
    print(f"zero-in-exact-arithmetic gradients ({len(zero_grads)}): {', '.join(zero_grads)}")
    total = 0
    for f in ("golden_config.json", "golden_weights.safetensors", "golden_input.safetensors",
              "golden_eval.safetensors", "golden_train.safetensors"):
        size = os.path.getsize(path(f))
        total += size
        print(f"  {f:28s} {size:>9,d} bytes")
    print(f"  {'total':28s} {total:>9,d} bytes")
    assert total <= 2 * 1024 * 1024, "fixtures exceed 2 MB"


if __name__ == "__main__":
    main()
