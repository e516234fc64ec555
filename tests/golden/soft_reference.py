"""PyTorch reference of the SOFT model family (softmax-free transformer).

Written for soft.cpp from the SOFT paper (docs/MODEL.md) and a reading of the official master
code (fudan-zvg/SOFT); no official code is copied here.  Parameter and buffer
names are exactly the official state_dict keys, so a converted official
checkpoint loads unchanged and the C++ side can use the same names.

The model is built from a JSON-compatible config dict (see CONFIG_KEYS and
official_config()).  Everything runs on the CPU, in float32 or float64.

Run as a script it prints the parameter count of the five official variants.
"""

import json
import math
import os
import struct
import sys

try:
    import torch
except ImportError:
    # run as a script under a python3 without torch: retry with Debian's (python3-torch)
    if __name__ == "__main__" and os.path.exists("/usr/bin/python3") \
            and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise
import numpy as np
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------

CONFIG_KEYS = (
    "name", "img_size", "in_chans", "num_classes",
    "embed_dims", "num_heads", "depths",          # 4 entries each
    "stem_strides",                               # 3: strides of the stem's convs
    "patch_strides",                              # 3: stages 2-4 patch embedding
    "landmark_strides",                           # 3: stages 1-3 landmark conv
    "local_kernels",                              # 3: stages 1-3 depthwise conv
    "newton_iterations", "newton_form",           # 20, "journal" | "neurips"
    "mlp_ratio_stage4", "drop_rate", "drop_path_rate",
)

STEM_WIDTH = 32          # hidden width of the stem's first two convs (fixed in the official code)
SOFT_LN_EPS = 1e-5       # every LayerNorm of stages 1-3 (block norms and landmark norm)
STAGE4_LN_EPS = 1e-6     # stage-4 block norms and the final norm
NEWTON_FORMS = ("journal", "neurips")

_OFFICIAL_SIZES = {
    #               embed_dims             num_heads        depths
    "soft_tiny":   ([64, 128, 320, 512], [2, 4, 10, 16], [1, 2, 3, 2]),
    "soft_small":  ([64, 128, 320, 512], [2, 4, 10, 16], [1, 3, 20, 4]),   # README says 24M; this config gives 38.9M
    "soft_medium": ([64, 128, 288, 512], [2, 4, 9, 16], [1, 3, 29, 5]),
    "soft_large":  ([64, 128, 320, 512], [2, 4, 10, 16], [1, 3, 40, 5]),
    "soft_huge":   ([64, 128, 352, 512], [2, 4, 11, 16], [1, 5, 49, 5]),
}

# Parameter counts of the official code (docs/MODEL.md); checked by this module's main().
OFFICIAL_PARAM_COUNTS = {
    "soft_tiny": 13_069_056,
    "soft_small": 38_858_462,
    "soft_medium": 45_812_707,
    "soft_large": 64_700_646,
    "soft_huge": 87_108_273,
}


def official_config(name, num_classes=1000, img_size=224, drop_path_rate=0.1, newton_form="journal"):
    """The config of one official variant (soft_tiny ... soft_huge)."""
    dims, heads, depths = _OFFICIAL_SIZES[name]
    return {
        "name": name,
        "img_size": img_size,
        "in_chans": 3,
        "num_classes": num_classes,
        "embed_dims": list(dims),
        "num_heads": list(heads),
        "depths": list(depths),
        "stem_strides": [2, 1, 2],
        "patch_strides": [2, 2, 2],
        "landmark_strides": [8, 4, 2],
        "local_kernels": [9, 5, 3],
        "newton_iterations": 20,
        "newton_form": newton_form,
        "mlp_ratio_stage4": 4,
        "drop_rate": 0.0,
        "drop_path_rate": drop_path_rate,
    }


def official_configs(**kwargs):
    return {name: official_config(name, **kwargs) for name in _OFFICIAL_SIZES}


def validate_config(cfg):
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    unknown = [k for k in cfg if k not in CONFIG_KEYS]
    if missing or unknown:
        raise ValueError(f"config: missing keys {missing}, unknown keys {unknown}")
    for key, n in (("embed_dims", 4), ("num_heads", 4), ("depths", 4), ("stem_strides", 3),
                   ("patch_strides", 3), ("landmark_strides", 3), ("local_kernels", 3)):
        if len(cfg[key]) != n:
            raise ValueError(f"config: {key} needs {n} entries, got {cfg[key]}")
    for i, (c, h) in enumerate(zip(cfg["embed_dims"], cfg["num_heads"])):
        if c % h:
            raise ValueError(f"config: stage {i + 1}: embed_dim {c} not divisible by num_heads {h}")
    if any(r < 2 for r in cfg["landmark_strides"]):
        # The official ratio == 1 branch (a Linear landmark op with a cls token) is dead code
        # that cannot run (it reads an attribute that is never set); we do not model it.
        raise ValueError(f"config: landmark_strides must be >= 2, got {cfg['landmark_strides']}")
    if any(k % 2 == 0 for k in cfg["local_kernels"]):
        raise ValueError(f"config: local_kernels must be odd (padding k//2 keeps the grid), got {cfg['local_kernels']}")
    if cfg["newton_form"] not in NEWTON_FORMS:
        raise ValueError(f"config: newton_form must be one of {NEWTON_FORMS}, got {cfg['newton_form']!r}")
    return cfg


def load_config(path):
    with open(path) as f:
        return validate_config(json.load(f))


def save_config(cfg, path):
    with open(path, "w") as f:
        json.dump(validate_config(cfg), f, indent=2)
        f.write("\n")


def conv3x3_out(n, stride):
    """Output length of a 3x3 conv with padding 1: ceil(n / stride)."""
    return (n + 2 * 1 - 3) // stride + 1


def stage_grids(cfg, height=None, width=None):
    """The (H, W) token grid of each stage for an input of height x width."""
    h = cfg["img_size"] if height is None else height
    w = cfg["img_size"] if width is None else width
    for s in cfg["stem_strides"]:
        h, w = conv3x3_out(h, s), conv3x3_out(w, s)
    grids = [(h, w)]
    for s in cfg["patch_strides"]:
        h, w = conv3x3_out(h, s), conv3x3_out(w, s)
        grids.append((h, w))
    return grids


def drop_path_schedule(cfg):
    """Official rule: linspace(0, rate, sum of ALL FOUR stages' depths), computed in float32."""
    total = sum(cfg["depths"])
    return [x.item() for x in torch.linspace(0, cfg["drop_path_rate"], total)]


# ---------------------------------------------------------------------------
# Small pieces
# ---------------------------------------------------------------------------

def trunc_normal_(tensor, std=0.02, a=-2.0, b=2.0):
    """Truncated normal as timm does it: bounds a, b are ABSOLUTE values (not in units
    of std), so with std 0.02 the truncation at +-2 never bites in practice."""
    def cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0
    with torch.no_grad():
        lo, hi = cdf(a / std), cdf(b / std)
        tensor.uniform_(2 * lo - 1, 2 * hi - 1)
        tensor.erfinv_()
        tensor.mul_(std * math.sqrt(2.0))
        tensor.clamp_(min=a, max=b)
    return tensor


def gelu_tanh(x):
    """The tanh approximation of GELU (stages 1-3 feed-forward, 'Approx_GeLU')."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


class GeluTanh(nn.Module):
    def forward(self, x):
        return gelu_tanh(x)


class DropPath(nn.Module):
    """Stochastic depth per sample (timm semantics: keep with prob 1-p, scale by 1/(1-p))."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


def gaussian_kernel(a, b):
    """exp(-||a_i - b_j||^2 / 2) for a [..., n, d], b [..., m, d] -> [..., n, m].

    Computed as the official code does, ||a||^2 + ||b||^2 - 2 a.b (no clamping)."""
    sq = (a * a).sum(-1, keepdim=True) + (b * b).sum(-1).unsqueeze(-2) - 2.0 * (a @ b.transpose(-1, -2))
    return torch.exp(-sq / 2.0)


# ---------------------------------------------------------------------------
# Newton-Raphson pseudo-inverse of the landmark kernel K2 [B, h, m, m]
# ---------------------------------------------------------------------------

def newton_iterate_journal(k2, iterations):
    """Official master form: per-matrix alpha, 0.01 I regulariser, plain iteration."""
    m = k2.shape[-1]
    eye = torch.eye(m, dtype=k2.dtype, device=k2.device)
    alpha = 1.8 / k2.sum(-1).amax(-1) ** 2                # [B, h]; max row sum of K2 (before + 0.01 I)
    p = k2 + 0.01 * eye
    v = alpha[..., None, None] * p
    for _ in range(iterations):
        v = 2 * v - v @ p @ v
    return v


class NewtonInverseJournal(torch.autograd.Function):
    """Iterations without autograd; backward is the gradient of an exact inverse,
    evaluated at the Newton result V:  dL/dK2 = -(V^T G V^T)."""

    @staticmethod
    def forward(ctx, k2, iterations):
        with torch.no_grad():
            v = newton_iterate_journal(k2, iterations)
        ctx.save_for_backward(v)
        return v

    @staticmethod
    def backward(ctx, grad_v):
        (v,) = ctx.saved_tensors
        vt = v.transpose(-1, -2)
        return -(vt @ grad_v @ vt), None


def newton_inverse_neurips(k2, iterations):
    """Original NeurIPS form; autograd runs through everything, alpha included.

    alpha = 2 / (max row sum over the whole batch)^2 (one scalar), halved (at most 10
    times) while max over the batch of the column sums of |I - P V| exceeds 1.01."""
    m = k2.shape[-1]
    eye = torch.eye(m, dtype=k2.dtype, device=k2.device)
    p = k2
    alpha = 2.0 / k2.sum(-1).max() ** 2
    v = alpha * p
    halvings = 0
    while (eye - p @ v).abs().sum(-2).max() > 1.01 and halvings < 10:
        alpha = alpha * 0.5
        v = alpha * p
        halvings += 1
    for _ in range(iterations):
        v = 2 * v - v @ p @ v
    return v


def newton_inverse(k2, iterations, form):
    if form == "journal":
        return NewtonInverseJournal.apply(k2, iterations)
    if form == "neurips":
        return newton_inverse_neurips(k2, iterations)
    raise ValueError(f"newton_inverse: unknown form {form!r}")


# ---------------------------------------------------------------------------
# Stages 1-3: SOFT attention and its post-LN block
# ---------------------------------------------------------------------------

class SoftKernelAttention(nn.Module):
    """Official name: <block>.att.mha.attn.  Takes Q, V [B, h, N, d] on an H x W grid."""

    def __init__(self, dim, num_heads, landmark_stride, local_kernel, iterations, newton_form):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.iterations = iterations
        self.newton_form = newton_form
        d = self.head_dim
        # one landmark conv shared by all heads
        self.Qlandmark_op = nn.Conv2d(d, d, kernel_size=landmark_stride, stride=landmark_stride, bias=False)
        self.Qnorm_act = nn.Sequential(nn.LayerNorm(d, eps=SOFT_LN_EPS), nn.GELU())
        # depthwise over heads: channel = head, one k x k kernel per head shared by its d channels
        self.conv = nn.Conv2d(num_heads, num_heads, kernel_size=local_kernel, padding=local_kernel // 2,
                              groups=num_heads, bias=False)

    def forward(self, q, v, H, W):
        B, h, N, d = q.shape
        q = q / math.sqrt(math.sqrt(d))                                   # scaled Q; K = Q
        qmap = q.reshape(B * h, H, W, d).permute(0, 3, 1, 2)              # [B*h, d, H, W]
        lm = self.Qlandmark_op(qmap)                                      # [B*h, d, H/r, W/r]
        lm = lm.flatten(2).transpose(1, 2).reshape(B, h, -1, d)           # [B, h, m, d], row-major over (H/r, W/r)
        lm = self.Qnorm_act(lm)

        k1 = gaussian_kernel(q, lm)                                       # [B, h, N, m]
        k2 = gaussian_kernel(lm, lm)                                      # [B, h, m, m]
        k2_inv = newton_inverse(k2, self.iterations, self.newton_form)   # [B, h, m, m]
        out = (k1 @ k2_inv) @ (k1.transpose(-1, -2) @ v)                  # [B, h, N, d]

        vmap = v.reshape(B, h, H, W, d).permute(0, 4, 1, 2, 3).reshape(B * d, h, H, W)
        local = self.conv(vmap).reshape(B, d, h, H, W).flatten(3).permute(0, 2, 3, 1)   # [B, h, N, d]
        return out + local


class SoftAttention(nn.Module):
    """Official name: <block>.att.mha"""

    def __init__(self, dim, num_heads, landmark_stride, local_kernel, iterations, newton_form):
        super().__init__()
        self.num_heads = num_heads
        self.W_q = nn.Linear(dim, dim)
        self.W_v = nn.Linear(dim, dim)
        self.attn = SoftKernelAttention(dim, num_heads, landmark_stride, local_kernel, iterations, newton_form)
        self.ff = nn.Linear(dim, dim)

    def split_heads(self, x):                      # [B, N, C] -> [B, h, N, d]
        B, N, C = x.shape
        return x.reshape(B, N, self.num_heads, C // self.num_heads).transpose(1, 2)

    def forward(self, x, H, W):
        q = self.split_heads(self.W_q(x))
        v = self.split_heads(self.W_v(x))
        out = self.attn(q, v, H, W)                  # [B, h, N, d]
        B, h, N, d = out.shape
        return self.ff(out.transpose(1, 2).reshape(B, N, h * d))


class SoftTransformer(nn.Module):
    """Official name: <block>.att.  Post-LN; 'drop path' here is plain element dropout."""

    def __init__(self, dim, num_heads, landmark_stride, local_kernel, iterations, newton_form, drop):
        super().__init__()
        self.mha = SoftAttention(dim, num_heads, landmark_stride, local_kernel, iterations, newton_form)
        self.dropout1 = nn.Dropout(drop)
        self.norm1 = nn.LayerNorm(dim, eps=SOFT_LN_EPS)
        self.ff1 = nn.Linear(dim, 4 * dim)          # always 4C, whatever the mlp ratio config says
        self.act = GeluTanh()
        self.ff2 = nn.Linear(4 * dim, dim)
        self.dropout2 = nn.Dropout(drop)
        self.norm2 = nn.LayerNorm(dim, eps=SOFT_LN_EPS)

    def forward(self, x, H, W):
        x = self.norm1(x + self.dropout1(self.mha(x, H, W)))
        return self.norm2(x + self.dropout2(self.ff2(self.act(self.ff1(x)))))


class SoftBlock(nn.Module):
    """Official name: block{1,2,3}.<i>; a thin wrapper whose only child is 'att'."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.att = SoftTransformer(*args, **kwargs)

    def forward(self, x, H, W):
        return self.att(x, H, W)


# ---------------------------------------------------------------------------
# Stage 4: pre-LN softmax attention (PVT style) on the grid plus a cls token
# ---------------------------------------------------------------------------

class SoftmaxAttention(nn.Module):
    def __init__(self, dim, num_heads, drop):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(drop)

    def forward(self, x):
        B, N, C = x.shape
        h = self.num_heads
        q = self.q(x).reshape(B, N, h, C // h).permute(0, 2, 1, 3)                  # [B, h, N, d]
        kv = self.kv(x).reshape(B, N, 2, h, C // h).permute(2, 0, 3, 1, 4)          # [2, B, h, N, d]
        k, v = kv[0], kv[1]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(out))


class Mlp(nn.Module):
    def __init__(self, dim, hidden, drop):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()                      # exact (erf) GELU
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Official name: block4.<i>"""

    def __init__(self, dim, num_heads, mlp_ratio, drop, drop_path):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=STAGE4_LN_EPS)
        self.attn = SoftmaxAttention(dim, num_heads, drop)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=STAGE4_LN_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


# ---------------------------------------------------------------------------
# Patch embedding and the whole network
# ---------------------------------------------------------------------------

class PatchEmbed(nn.Module):
    """Official name: patch_embed{1..4}.  proj is a Sequential of (conv3x3 p1 + bias, BN, ReLU)
    triples: three for stage 1 (widths in -> 32 -> 32 -> C), one for stages 2-4."""

    def __init__(self, in_chans, embed_dim, strides):
        super().__init__()
        widths = [in_chans] + [STEM_WIDTH] * (len(strides) - 1) + [embed_dim]
        layers = []
        for i, s in enumerate(strides):
            layers += [nn.Conv2d(widths[i], widths[i + 1], kernel_size=3, stride=s, padding=1),
                       nn.BatchNorm2d(widths[i + 1]), nn.ReLU()]
        self.proj = nn.Sequential(*layers)

    def forward(self, x):                            # [B, Cin, H, W] -> [B, H'W', C], (H', W')
        x = self.proj(x)
        H, W = x.shape[2:]
        return x.flatten(2).transpose(1, 2), (H, W)


def resize_pos_embed(pos, H, W):
    """pos [1, g*g, C] (square grid, row-major) -> [1, H*W, C] by bilinear,
    align_corners=False; applied even when (H, W) == (g, g), where it is the identity."""
    _, n, C = pos.shape
    g = int(n ** 0.5)
    grid = pos.reshape(1, g, g, C).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(H, W), mode="bilinear", align_corners=False)
    return grid.flatten(2).transpose(1, 2)


class SoftVisionTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        validate_config(cfg)
        self.cfg = dict(cfg)
        dims, heads, depths = cfg["embed_dims"], cfg["num_heads"], cfg["depths"]
        grids = stage_grids(cfg)
        for (gh, gw) in grids:
            assert gh == gw
        drop = cfg["drop_rate"]

        self.patch_embed1 = PatchEmbed(cfg["in_chans"], dims[0], cfg["stem_strides"])
        self.patch_embed2 = PatchEmbed(dims[0], dims[1], cfg["patch_strides"][0:1])
        self.patch_embed3 = PatchEmbed(dims[1], dims[2], cfg["patch_strides"][1:2])
        self.patch_embed4 = PatchEmbed(dims[2], dims[3], cfg["patch_strides"][2:3])

        # grid sizes at img_size (official: 56^2, 28^2, 14^2, 7^2 + 1 at 224 px)
        self.pos_embed1 = nn.Parameter(torch.zeros(1, grids[0][0] ** 2, dims[0]))
        self.pos_drop1 = nn.Dropout(drop)
        self.pos_embed2 = nn.Parameter(torch.zeros(1, grids[1][0] ** 2, dims[1]))
        self.pos_drop2 = nn.Dropout(drop)
        self.pos_embed3 = nn.Parameter(torch.zeros(1, grids[2][0] ** 2, dims[2]))
        self.pos_drop3 = nn.Dropout(drop)
        self.pos_embed4 = nn.Parameter(torch.zeros(1, grids[3][0] ** 2 + 1, dims[3]))
        # (the official code also has a pos_drop4 but never calls it)

        dpr = drop_path_schedule(cfg)
        starts = [0, depths[0], depths[0] + depths[1], depths[0] + depths[1] + depths[2]]
        soft_stages = []
        for s in range(3):
            soft_stages.append(nn.ModuleList([
                SoftBlock(dims[s], heads[s], cfg["landmark_strides"][s], cfg["local_kernels"][s],
                          cfg["newton_iterations"], cfg["newton_form"], drop=dpr[starts[s] + i])
                for i in range(depths[s])]))
        self.block1, self.block2, self.block3 = soft_stages
        self.block4 = nn.ModuleList([
            Block(dims[3], heads[3], cfg["mlp_ratio_stage4"], drop, dpr[starts[3] + i])
            for i in range(depths[3])])
        self.norm = nn.LayerNorm(dims[3], eps=STAGE4_LN_EPS)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dims[3]))
        self.head = nn.Linear(dims[3], cfg["num_classes"])

        for p in (self.pos_embed1, self.pos_embed2, self.pos_embed3, self.pos_embed4, self.cls_token):
            trunc_normal_(p, std=0.02)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        # Convs (and BN) keep PyTorch's default init, as in the official code.
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward_features(self, x):
        B = x.shape[0]
        stages = ((self.patch_embed1, self.pos_embed1, self.pos_drop1, self.block1),
                  (self.patch_embed2, self.pos_embed2, self.pos_drop2, self.block2),
                  (self.patch_embed3, self.pos_embed3, self.pos_drop3, self.block3))
        for patch_embed, pos, pos_drop, blocks in stages:
            x, (H, W) = patch_embed(x)                                    # [B, HW, C]
            x = pos_drop(x + resize_pos_embed(pos, H, W))
            for blk in blocks:
                x = blk(x, H, W)
            x = x.reshape(B, H, W, -1).permute(0, 3, 1, 2)                # [B, C, H, W]

        x, (H, W) = self.patch_embed4(x)
        pos = torch.cat([self.pos_embed4[:, :1], resize_pos_embed(self.pos_embed4[:, 1:], H, W)], dim=1)
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1) + pos  # [B, 1+HW, C], no dropout
        for blk in self.block4:
            x = blk(x)
        return self.norm(x)[:, 0]

    def forward(self, x):
        return self.head(self.forward_features(x))


def build_model(cfg):
    return SoftVisionTransformer(cfg)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------
# safetensors, written and read here (no dependency)
# ---------------------------------------------------------------------------

_DTYPES = {
    "F64": (torch.float64, "<f8"),
    "F32": (torch.float32, "<f4"),
    "I64": (torch.int64, "<i8"),
}
_TORCH_TO_NAME = {v[0]: k for k, v in _DTYPES.items()}


def save_safetensors(tensors, path, metadata=None):
    """tensors: {name: torch tensor of dtype float64, float32 or int64}.

    Layout: u64 little-endian header length, JSON header (space-padded to a multiple
    of 8), then the raw little-endian data; data_offsets are relative to the data start."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in _TORCH_TO_NAME:
            raise ValueError(f"save_safetensors: {name}: unsupported dtype {t.dtype}")
        dname = _TORCH_TO_NAME[t.dtype]
        data = t.numpy().astype(_DTYPES[dname][1], copy=False).tobytes()
        header[name] = {"dtype": dname, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * (-len(hbytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for b in blobs:
            f.write(b)


def load_safetensors(path, with_metadata=False):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        torch_dtype, np_dtype = _DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        arr = np.frombuffer(raw[base + begin:base + end], dtype=np_dtype).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
        assert out[name].dtype == torch_dtype
    return (out, meta) if with_metadata else out


def main():
    ok = True
    for name, cfg in official_configs().items():
        model = build_model(cfg)
        n = count_parameters(model)
        want = OFFICIAL_PARAM_COUNTS[name]
        status = "ok" if n == want else f"MISMATCH (want {want:,})"
        ok &= n == want
        print(f"{name:12s} {n:>12,d} params  {status}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
