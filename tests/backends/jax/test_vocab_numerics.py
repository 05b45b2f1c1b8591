"""The added vocabulary (norms, rotary, feedforward, self_attention, decoder, vit), compiled
with backends.jax, against float64 NumPy references written by hand."""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np
import pytest

from backends.jax import apply as apply_
from topos import Fin, with_dtype
from topos.nn.decoder import block, language_model
from topos.nn.feedforward import SEED, dropout, feedforward, gated_mlp
from topos.nn.norms import rms_norm
from topos.nn.rotary import rotary
from topos.nn.self_attention import self_attention
from topos.nn.vit import vision_transformer

RNG = np.random.default_rng(1)


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def close(got: Any, want: Any, tol: float = 2e-5) -> None:
    got64, want64 = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got64.shape == want64.shape, (got64.shape, want64.shape)
    scale = max(1.0, float(np.abs(want64).max(initial=0.0)))
    np.testing.assert_allclose(got64, want64, rtol=0, atol=tol * scale)


def randomised(p: Any, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        k: (0.3 * rng.standard_normal(v.ob.shape)).astype(np.float32)
        for k, v in p.parameters().items()
    }


def f64(params: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, np.float64) for k, v in params.items()}


def apply(p: Any, params: Any, *xs: Any) -> Any:
    return jax.jit(lambda ps, *v: apply_(p, ps, *v))(params, *xs)


# -- NumPy references --------------------------------------------------------------------


def np_silu(x: np.ndarray) -> np.ndarray:
    return x / (1 + np.exp(-x))


def np_gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def np_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_lin(p: dict[str, np.ndarray], name: str, x: np.ndarray) -> np.ndarray:
    out = x @ p[f"{name}.w"]
    return out + p[f"{name}.b"] if f"{name}.b" in p else out


def np_rms(p: dict[str, np.ndarray], name: str, x: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt((x**2).mean(-1, keepdims=True) + eps) * p[f"{name}.scale"]


def np_ln(p: dict[str, np.ndarray], name: str, x: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * p[f"{name}.scale"] + p[f"{name}.bias"]


def np_rope(x: np.ndarray, dims: int | None = None, base: float = 10_000.0) -> np.ndarray:
    """Half-split RoPE on x[seq, ..., dh], position = index along axis 0, loops over positions."""
    r = x.shape[-1] if dims is None else dims
    half = r // 2
    out = x.copy()
    for s in range(x.shape[0]):
        theta = s / base ** (2 * np.arange(half) / r)
        x1, x2 = x[s, ..., :half], x[s, ..., half:r]
        out[s, ..., :half] = x1 * np.cos(theta) - x2 * np.sin(theta)
        out[s, ..., half:r] = x2 * np.cos(theta) + x1 * np.sin(theta)
    return out


def np_attn(
    p: dict[str, np.ndarray],
    name: str,
    x: np.ndarray,
    heads: int,
    kv: int,
    dh: int,
    *,
    causal: bool = True,
    rope: bool = False,
    rope_dims: int | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    s = x.shape[0]
    g = heads // kv
    q = np_lin(p, f"{name}.q", x).reshape(s, heads, dh)
    k = np_lin(p, f"{name}.k", x).reshape(s, kv, dh)
    v = np_lin(p, f"{name}.v", x).reshape(s, kv, dh)
    if rope:
        q, k = np_rope(q, rope_dims), np_rope(k, rope_dims)
    out = np.zeros((s, heads, dh))
    for h in range(heads):
        j = h // g  # query head h reads key/value head h // group
        scores = q[:, h] @ k[:, j].T / math.sqrt(dh)
        if causal:
            scores = np.where(np.tril(np.ones((s, s), bool)), scores, -1e9)
        if mask is not None:
            scores = np.where(mask[None, :] != 0, scores, -1e9)
        out[:, h] = np_softmax(scores) @ v[:, j]
    return np_lin(p, f"{name}.o", out.reshape(s, heads * dh))


def np_ffn(p: dict[str, np.ndarray], name: str, x: np.ndarray, act: str) -> np.ndarray:
    if act in ("swiglu", "geglu"):
        f = np_silu if act == "swiglu" else np_gelu
        return np_lin(
            p, f"{name}.down", f(np_lin(p, f"{name}.gate", x)) * np_lin(p, f"{name}.up", x)
        )
    f = {
        "gelu": np_gelu,
        "gelu_exact": lambda a: 0.5 * a * (1 + np.vectorize(math.erf)(a / math.sqrt(2))),
        "relu": lambda a: np.maximum(a, 0),
        "silu": np_silu,
    }[act]
    return np_lin(p, f"{name}.fc2", f(np_lin(p, f"{name}.fc1", x)))


def np_lm(p: dict[str, np.ndarray], tokens: np.ndarray, cfg: dict[str, Any]) -> np.ndarray:
    """The language model, block by block, with the stacked ``blocks.*`` indexed per layer."""
    nrm = np_rms if cfg["norm"] == "rms" else np_ln
    eps = cfg["eps"]
    x = p["embed.table"][tokens]
    if cfg["positional"] == "learned":
        x = x + p["pos.table"]
    for i in range(cfg["layers"]):
        b = {k[len("blocks.") :]: v[i] for k, v in p.items() if k.startswith("blocks.")}
        a = np_attn(
            b, "attn", nrm(b, "ln1", x, eps), cfg["heads"], cfg["kv"], cfg["dh"],
            rope=cfg["positional"] == "rope", rope_dims=cfg.get("rope_dims"), mask=cfg.get("mask"),
        )  # fmt: skip
        if cfg.get("parallel"):
            x = x + a + np_ffn(b, "mlp", nrm(b, "ln2", x, eps), cfg["act"])
        else:
            x = x + a
            x = x + np_ffn(b, "mlp", nrm(b, "ln2", x, eps), cfg["act"])
    x = nrm(p, "ln_f", x, eps)
    w = p["head.w"] if "head.w" in p else p["embed.table"].T
    return x @ w + p["head.b"] if "head.b" in p else x @ w


# -- layers --------------------------------------------------------------------------------


def test_rms_norm_agrees_with_numpy() -> None:
    layer = rms_norm(8, lead=(3,), eps=1e-5, name="n")
    params, x = randomised(layer), rand(3, 8)
    close(apply(layer, params, x), np_rms(f64(params), "n", x.astype(np.float64), 1e-5))


@pytest.mark.parametrize(("shape", "dims"), [((6, 8), None), ((5, 2, 3, 8), None), ((6, 2, 10), 4)])
def test_rotary_agrees_with_numpy(shape: tuple[int, ...], dims: int | None) -> None:
    x = rand(*shape)
    close(apply(rotary(shape, dims=dims), {}, x), np_rope(x.astype(np.float64), dims))


def test_rotary_preserves_norms_and_relative_positions() -> None:
    """A rotation: |rope(x)| = |x| per pair; <rope(q)_s, rope(k)_t> depends on s - t only."""
    rot = rotary((6, 8))
    q, k = np.tile(rand(1, 8), (6, 1)), np.tile(rand(1, 8), (6, 1))
    rq, rk = np.asarray(apply(rot, {}, q), np.float64), np.asarray(apply(rot, {}, k), np.float64)
    close(np.linalg.norm(rq, axis=-1), np.linalg.norm(q, axis=-1), 1e-5)
    dots = rq @ rk.T
    close(np.diag(dots, 1), np.full(5, dots[0, 1]), 1e-5)


@pytest.mark.parametrize("act", ["swiglu", "geglu", "gelu", "gelu_exact", "relu", "silu"])
def test_feedforward_agrees_with_numpy(act: str) -> None:
    ffn = feedforward(6, 10, lead=(3,), activation=act, bias=act == "gelu")
    params, x = randomised(ffn), rand(3, 6)
    close(apply(ffn, params, x), np_ffn(f64(params), "mlp", x.astype(np.float64), act))


def test_gated_mlp_bias_paths() -> None:
    assert list(gated_mlp(4, 6, bias=True).parameters()) == [
        "mlp.gate.w", "mlp.gate.b", "mlp.up.w", "mlp.up.b", "mlp.down.w", "mlp.down.b",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("heads", "kv", "dh", "causal", "rope", "bias"),
    [
        (4, 4, 4, True, False, True),  # multi-head
        (4, 2, 4, True, True, False),  # grouped-query, RoPE
        (4, 1, 6, False, True, True),  # multi-query, head_dim != d / heads
        (2, 2, 8, True, False, False),
    ],
)
def test_self_attention_agrees_with_numpy(
    heads: int, kv: int, dh: int, causal: bool, rope: bool, bias: bool
) -> None:
    at = self_attention(
        5, 16, heads, kv_heads=kv, head_dim=dh, causal=causal, rope=rope, bias=bias, name="at"
    )
    params, x = randomised(at), rand(5, 16)
    want = np_attn(f64(params), "at", x.astype(np.float64), heads, kv, dh, causal=causal, rope=rope)
    close(apply(at, params, x), want)


def test_padding_mask_hides_the_padded_keys() -> None:
    at = self_attention(6, 8, 2, kv_heads=1, padding_mask=True, causal=False, name="at")
    params, x = randomised(at), rand(6, 8)
    mask = np.array([1, 1, 1, 1, 0, 0], np.float32)
    want = np_attn(f64(params), "at", x.astype(np.float64), 2, 1, 4, causal=False, mask=mask)
    got = np.asarray(apply(at, params, x, mask))
    close(got, want)
    x2 = x.copy()
    x2[4:] = rand(2, 8)  # changing padded tokens changes nothing at real positions
    close(np.asarray(apply(at, params, x2, mask))[:4], got[:4], 1e-6)


def test_dropout_is_deterministic_given_the_key_and_the_identity_at_inference() -> None:
    x = rand(40, 30)
    drop = dropout((40, 30), 0.5)
    a, b = apply(drop, {}, x, np.int32(3)), apply(drop, {}, x, np.int32(3))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    kept = np.asarray(a) != 0
    close(np.asarray(a)[kept], 2.0 * x[kept])
    assert 0.4 < kept.mean() < 0.6
    assert not np.array_equal(np.asarray(apply(drop, {}, x, np.int32(4))), np.asarray(a))
    inference = dropout((40, 30), 0.5, train=False)
    np.testing.assert_array_equal(np.asarray(apply(inference, {}, x, np.int32(3))), x)
    assert drop.dom.right == SEED == Fin(2**31)


def test_parallel_block_with_mask_agrees_with_numpy() -> None:
    blk = block(5, 8, 2, parallel=True, padding_mask=True, norm_kind="layer", activation="gelu")
    params, x = randomised(blk), rand(5, 8)
    mask = np.array([1, 1, 1, 0, 0], np.float32)
    p, x64 = f64(params), x.astype(np.float64)
    a = np_attn(p, "attn", np_ln(p, "ln1", x64, 1e-5), 2, 2, 4, mask=mask)
    want = x64 + a + np_ffn(p, "mlp", np_ln(p, "ln2", x64, 1e-5), "gelu")
    y, m = apply(blk, params, x, mask)
    close(y, want)
    np.testing.assert_array_equal(np.asarray(m), mask)


LMS = {
    "gpt2-like, tied": dict(positional="learned", norm="layer", act="gelu", tie=True, bias=True),
    "llama-like": dict(positional="rope", norm="rms", act="swiglu", kv=2, bias=False, eps=1e-6),
    "neox-like": dict(positional="rope", norm="layer", act="gelu", parallel=True, rope_dims=2),
    "geglu, mqa, no positions": dict(positional="none", norm="rms", act="geglu", kv=1, bias=False),
}


@pytest.mark.parametrize("name", list(LMS))
def test_language_models_agree_with_numpy(name: str) -> None:
    cfg: dict[str, Any] = dict(layers=2, heads=4, kv=4, dh=4, eps=1e-5, bias=True) | LMS[name]
    lm = language_model(
        30, 6, 16, 4, 2, kv_heads=cfg["kv"], positional=cfg["positional"], norm=cfg["norm"],
        eps=cfg["eps"], activation=cfg["act"], bias=cfg["bias"], tie=cfg.get("tie", False),
        parallel=cfg.get("parallel", False), rope_dims=cfg.get("rope_dims"), mlp_hidden=24,
    )  # fmt: skip
    params = randomised(lm)
    tokens = RNG.integers(0, 30, 6).astype(np.int32)
    close(apply(lm, params, tokens), np_lm(f64(params), tokens, cfg), 5e-5)


@pytest.mark.parametrize("name", ["gpt2-like, tied", "llama-like"])
def test_float64_language_models_agree_with_the_float64_reference(name: str) -> None:
    # Issue 22, item 5: a float32 diagram given float64 arrays computed its rotary
    # tables in float32 (off by up to 2e-5 against a float64 reference); float64
    # arrays for float32 parameters are now refused, and with_dtype builds the model
    # at float64, tables included.
    cfg: dict[str, Any] = dict(layers=2, heads=4, kv=4, dh=4, eps=1e-5, bias=True) | LMS[name]
    lm = language_model(
        30, 6, 16, 4, 2, kv_heads=cfg["kv"], positional=cfg["positional"], norm=cfg["norm"],
        eps=cfg["eps"], activation=cfg["act"], bias=cfg["bias"], tie=cfg.get("tie", False),
        mlp_hidden=24,
    )  # fmt: skip
    params = f64(randomised(lm))
    tokens = RNG.integers(0, 30, 6).astype(np.int32)
    with jax.enable_x64(True):
        with pytest.raises(TypeError, match="is declared float32, got float64"):
            apply_(lm, params, tokens)
        got = np.asarray(apply(with_dtype(lm, "float64"), params, tokens))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np_lm(params, tokens, cfg), rtol=0, atol=1e-10)


def test_language_model_with_padding_mask_agrees_with_numpy() -> None:
    lm = language_model(30, 6, 16, 4, 2, padding_mask=True, norm="rms", positional="rope")
    params = randomised(lm)
    tokens, mask = RNG.integers(0, 30, 6).astype(np.int32), np.array([1, 1, 1, 1, 1, 0], np.float32)
    cfg = dict(layers=2, heads=4, kv=4, dh=4, eps=1e-5, positional="rope", norm="rms", act="gelu")
    cfg["mask"] = mask
    close(apply(lm, params, tokens, mask), np_lm(f64(params), tokens, cfg), 5e-5)


def test_vision_transformer_agrees_with_numpy() -> None:
    vit = vision_transformer((8, 8, 3), 4, 16, 2, 2, 5, mlp_hidden=32)
    params, img = randomised(vit), rand(8, 8, 3)
    p, x = f64(params), img.astype(np.float64)
    patches = x.reshape(2, 4, 2, 4, 3).transpose(0, 2, 1, 3, 4).reshape(4, 48)
    h = np.concatenate([p["cls"], np_lin(p, "patch", patches)]) + p["pos.table"]
    for i in range(2):
        b = {k[len("blocks.") :]: v[i] for k, v in p.items() if k.startswith("blocks.")}
        h = h + np_attn(b, "attn", np_ln(b, "ln1", h, 1e-6), 2, 2, 8, causal=False)
        h = h + np_ffn(b, "mlp", np_ln(b, "ln2", h, 1e-6), "gelu")
    want = np_lin(p, "head", np_ln(p, "ln_f", h, 1e-6)[0])
    close(apply(vit, params, img), want, 5e-5)
