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
The script also checks the journal-form Newton backward, and it checks that the
golden model is well conditioned, so that a float32 run can be compared at fixed
tolerances whatever the rounding of the kernels: every SOFT layer's Newton
iteration has converged (eval and train mode), a float32 run of the same
reference is close to the float64 one, and a relative 1e-6 perturbation of K2 or
of the input moves the gradients by far less than the float32 tolerance.
"""

import contextlib
import copy
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

# Seed and landmark-norm scale are chosen for conditioning (see perturb_for_golden). With the
# official scale 1 the random landmarks cluster: for every seed tried some layer's K2 is nearly
# singular (cond(K2 + 0.01 I) ~ 1000), Newton has not converged after 20 iterations and its result
# amplifies the float32 rounding of K2 by up to ~2^20. Seeds 0-99 were screened at scale 1.5 for
# the worst cond(K2 + 0.01 I) over the four SOFT layers (eval and training mode); of the best
# few (worst cond 17 to 25), seed 17 (25) gave the smallest float32-vs-float64 gradient error.
SEED = 17
LANDMARK_NORM_SCALE = 1.5
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
    bias/affine shows up) and activations are O(1) (so every branch moves the logits).

    The landmark LayerNorm (att.mha.attn.Qnorm_act.0) gets a weight around LANDMARK_NORM_SCALE
    instead of 1: it spreads the landmarks apart, so K2 = exp(-|l_i - l_j|^2 / 2) is close to I
    and well conditioned and Newton converges, while K1 (queries against landmarks) stays
    large enough that the global attention term moves the logits by O(1)."""
    def normal(t, std, mean=0.0):
        t.copy_(mean + std * torch.randn(t.shape, generator=gen, dtype=t.dtype))

    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Linear):
                normal(m.weight, m.in_features ** -0.5)
                normal(m.bias, 0.1)
            elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                scale = LANDMARK_NORM_SCALE if name.endswith("attn.Qnorm_act.0") else 1.0
                normal(m.weight, 0.2 * scale, scale)
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


def load_model(cfg, state, dtype):
    """A fresh model holding `state` (the float32 values of float_state), in eval mode."""
    model = ref.build_model(cfg).to(dtype)
    model.load_state_dict({k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()})
    return model.eval()


def normwise_error(a, b):
    """max|a - b| / max|b|"""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()


def worst_gradient_error(grads, expected, skip):
    """(largest normwise error over the gradient tensors, its name), ignoring the names in skip."""
    return max((normwise_error(grads[k].double(), g), k) for k, g in expected.items() if k not in skip)


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


@contextlib.contextmanager
def wrapped_newton(wrap):
    """Route every SOFT layer's Newton inverse through wrap(newton_inverse, k2, iterations, form)."""
    saved = ref.newton_inverse
    ref.newton_inverse = lambda k2, iterations, form: wrap(saved, k2, iterations, form)
    try:
        yield
    finally:
        ref.newton_inverse = saved


def newton_residuals(model, x, train):
    """(max |P V - I|, largest cond(P)) of every SOFT layer's Newton result, P = K2 + 0.01 I, in a
    forward of a copy of model, in eval mode (running statistics) or training mode (batch
    statistics)."""
    out = []

    def spy(newton, k2, iterations, form):
        v = newton(k2, iterations, form)
        eye = torch.eye(k2.shape[-1], dtype=k2.dtype)
        p = k2 + 0.01 * eye
        eig = torch.linalg.eigvalsh(p)                                 # ascending, per matrix
        out.append(((p @ v - eye).abs().max().item(), (eig[..., -1] / eig[..., 0]).max().item()))
        return v

    model = copy.deepcopy(model).train(train)           # a training forward moves the BN buffers
    with wrapped_newton(spy), torch.no_grad():
        model(x)
    assert len(out) == sum(len(b) for b in (model.block1, model.block2, model.block3))
    return out


def perturbed_gradients(cfg, state, x, labels, rel, gen):
    """Gradients of the training step (float64) with K2 (every SOFT layer, before Newton) and,
    separately, the input multiplied elementwise by 1 + rel * U(-1, 1)."""
    def noise(t):
        return 1 + rel * (2 * torch.rand(t.shape, generator=gen, dtype=t.dtype) - 1)

    def perturb_k2(newton, k2, iterations, form):
        return newton(k2 * noise(k2), iterations, form)

    with wrapped_newton(perturb_k2):
        grads_k2 = train_step(load_model(cfg, state, torch.float64), x, labels)[2]
    grads_x = train_step(load_model(cfg, state, torch.float64), x * noise(x), labels)[2]
    return grads_k2, grads_x


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
    residuals = {"eval": newton_residuals(model, x, False), "train": newton_residuals(model, x, True)}

    # reload the rounded state into a fresh model: the files alone reproduce the numbers
    state = float_state(model)
    fresh = load_model(cfg, state, torch.float64)
    with torch.no_grad():
        assert torch.equal(fresh(x), logits)

    loss, train_logits, grads, running = train_step(fresh, x, labels)

    gmax = max(g.abs().max().item() for g in grads.values())
    zero_grads = sorted(k for k in grads if PRE_BN_BIAS.match(k))
    for k in zero_grads:
        assert grads[k].abs().max().item() < 1e-10 * gmax, k

    # the same reference in float32, to size what a float32 C++ run can reach
    m32 = load_model(cfg, state, torch.float32)
    with torch.no_grad():
        logits32 = m32(x.float())
    loss32, train_logits32, grads32, _ = train_step(m32, x.float(), labels)
    err32 = {"eval logits": normwise_error(logits32.double(), logits),
             "train logits": normwise_error(train_logits32.double(), train_logits),
             "loss": abs(loss32.item() - loss.item()) / abs(loss.item())}
    worst32 = worst_gradient_error(grads32, grads, zero_grads)

    # conditioning: ulp-level changes of K2 or of the input must not move the gradients
    rel, noise_gen = 1e-6, torch.Generator().manual_seed(SEED + 1)
    grads_k2, grads_x = perturbed_gradients(cfg, state, x, labels, rel, noise_gen)
    moved_k2 = worst_gradient_error(grads_k2, grads, zero_grads)
    moved_x = worst_gradient_error(grads_x, grads, zero_grads)

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
    for mode, r in residuals.items():
        print(f"SOFT layers, {mode:5s}: newton max|P V - I| " + ", ".join(f"{res:.1e}" for res, _ in r)
              + ";  cond(K2 + 0.01 I) " + ", ".join(f"{c:.1f}" for _, c in r))
    torch.set_printoptions(precision=6, linewidth=120)
    print("eval logits:\n", logits)
    print(f"train loss {loss.item():.12f}")
    print("float32 vs float64: " + ", ".join(f"{k} {v:.1e}" for k, v in err32.items())
          + f", worst gradient {worst32[0]:.1e} ({worst32[1]})")
    print(f"K2 x (1 + {rel:.0e} U(-1,1)): gradients move by {moved_k2[0]:.1e} ({moved_k2[1]}); "
          f"input x (1 + {rel:.0e} U(-1,1)): {moved_x[0]:.1e} ({moved_x[1]})")
    print(f"zero-in-exact-arithmetic gradients ({len(zero_grads)}): {', '.join(zero_grads)}")
    total = 0
    for f in ("golden_config.json", "golden_weights.safetensors", "golden_input.safetensors",
              "golden_eval.safetensors", "golden_train.safetensors"):
        size = os.path.getsize(path(f))
        total += size
        print(f"  {f:28s} {size:>9,d} bytes")
    print(f"  {'total':28s} {total:>9,d} bytes")
    assert total <= 2 * 1024 * 1024, "fixtures exceed 2 MB"
    # the test's float32 tolerances (1e-4 outputs, 1e-3 gradients) need a model whose numbers
    # do not hinge on rounding: fail here, not in a C++ build that happens to round differently
    assert max(res for r in residuals.values() for res, _ in r) < 1e-6, f"Newton not converged: {residuals}"
    assert max(err32.values()) < 1e-5 and worst32[0] < 1e-4, "float32 reference too far from float64"
    assert moved_k2[0] < 1e-4 and moved_x[0] < 1e-4, "gradients are ill-conditioned in K2 or the input"


if __name__ == "__main__":
    main()
