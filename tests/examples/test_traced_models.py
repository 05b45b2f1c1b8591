"""The traced models of ``examples/traced_models.py`` equal their Equinox versions.

Each traced Para is compiled by the JAX backend (``apply``); its weights,
perturbed at random so no initialiser hides a mistake, are loaded into the Equinox
model of ``benchmarks/lines/equinox_models.py``; outputs agree to 1e-5. The traced
versions are no longer than the Equinox ones (``benchmarks/lines/count.py``).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from backends.jax import apply

ROOT = Path(__file__).resolve().parents[2]


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses (eqx.Module) look their module up
    spec.loader.exec_module(module)
    return module


T = _load(ROOT / "examples" / "traced_models.py", "traced_models")
E = _load(ROOT / "benchmarks" / "lines" / "equinox_models.py", "equinox_models")
COUNT = _load(ROOT / "benchmarks" / "lines" / "count.py", "line_count")


def _weights(p, seed):
    """Random weights for every path of ``p`` (not the initialisers' ones and zeros)."""
    rng = np.random.default_rng(seed)
    return {
        k: jnp.asarray(0.5 * rng.normal(size=v.ob.shape), jnp.float32)
        for k, v in p.parameters().items()
    }


def _abstract(cls):
    """The Equinox model's structure without drawing its weights (all are replaced)."""
    return eqx.filter_eval_shape(cls, key=jax.random.key(9))


def _data(seed, shape, high=None):
    rng = np.random.default_rng(seed)
    if high is None:
        return jnp.asarray(rng.normal(size=shape), jnp.float32)
    return jnp.asarray(rng.integers(0, high, size=shape), jnp.int32)


def _set(model, pairs):
    for where, value in pairs:
        model = eqx.tree_at(where, model, value)
    return model


def _linear(get, w, b=None):
    out = [(lambda m: get(m).weight, w.T)]
    return out + ([(lambda m: get(m).bias, b)] if b is not None else [])


def _ln(get, ws, prefix):
    return [
        (lambda m: get(m).weight, ws[f"{prefix}.scale"]),
        (lambda m: get(m).bias, ws[f"{prefix}.bias"]),
    ]


def _mlp(get, ws, prefix, at=lambda a: a):
    return _linear(
        lambda m: get(m).layers[0], at(ws[f"{prefix}.fc1.w"]), at(ws[f"{prefix}.fc1.b"])
    ) + _linear(lambda m: get(m).layers[1], at(ws[f"{prefix}.fc2.w"]), at(ws[f"{prefix}.fc2.b"]))


@eqx.filter_jit
def _run(model, *xs):
    return jax.vmap(model)(*xs)


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5)


def test_mixer_equals_equinox() -> None:
    p = T.mixer()
    ws = _weights(p, 0)
    model = _abstract(E.Mixer)
    pairs = _linear(lambda m: m.stem, ws["stem.w"], ws["stem.b"]) + _ln(lambda m: m.ln, ws, "ln")
    pairs += _linear(lambda m: m.head, ws["head.w"], ws["head.b"])
    for i in range(len(model.blocks)):
        blk = lambda m, i=i: m.blocks[i]  # noqa: E731
        at = lambda a, i=i: a[i]  # noqa: E731
        sliced = {k[len("blocks.") :]: v[i] for k, v in ws.items() if k.startswith("blocks.")}
        pairs += _ln(lambda m, b=blk: b(m).ln1, sliced, "ln1") + _ln(
            lambda m, b=blk: b(m).ln2, sliced, "ln2"
        )
        pairs += _mlp(lambda m, b=blk: b(m).tokens, ws, "blocks.tokens", at)
        pairs += _mlp(lambda m, b=blk: b(m).channels, ws, "blocks.channels", at)
    model = _set(model, pairs)
    images = _data(3, (2, 8, 8, 3))
    ours = jax.jit(jax.vmap(lambda x: apply(p, ws, x)))(images)
    _close(ours, _run(model, images))


def _attention(get, ws, prefix):
    names = {"q": "query_proj", "k": "key_proj", "v": "value_proj", "o": "output_proj"}
    return [
        (lambda m, n=n: getattr(get(m), n).weight, ws[f"{prefix}.{k}.w"].T)
        for k, n in names.items()
    ]


def test_encoder_decoder_equals_equinox() -> None:
    p = T.encoder_decoder()
    ws = _weights(p, 1)
    model = _abstract(E.EncoderDecoder)
    pairs = [
        (lambda m: m.src_embed.weight, ws["src.table"]),
        (lambda m: m.tgt_embed.weight, ws["tgt.table"]),
        (lambda m: m.src_pos, ws["src_pos"]),
        (lambda m: m.tgt_pos, ws["tgt_pos"]),
    ]
    pairs += _ln(lambda m: m.enc_ln, ws, "enc_ln") + _ln(lambda m: m.dec_ln, ws, "dec_ln")
    pairs += _linear(lambda m: m.head, ws["head.w"], ws["head.b"])
    for i in range(len(model.encoder)):
        enc = lambda m, i=i: m.encoder[i]  # noqa: E731
        pairs += _ln(lambda m, b=enc: b(m).ln1, ws, f"enc{i}.ln1") + _ln(
            lambda m, b=enc: b(m).ln2, ws, f"enc{i}.ln2"
        )
        pairs += _attention(lambda m, b=enc: b(m).attn, ws, f"enc{i}.attn")
        pairs += _mlp(lambda m, b=enc: b(m).mlp, ws, f"enc{i}.mlp")
    for i in range(len(model.decoder)):
        dec = lambda m, i=i: m.decoder[i]  # noqa: E731
        for n in ("ln1", "ln2", "ln3"):
            pairs += _ln(lambda m, b=dec, n=n: getattr(b(m), n), ws, f"dec{i}.{n}")
        pairs += _attention(lambda m, b=dec: b(m).self_attn, ws, f"dec{i}.self")
        pairs += _attention(lambda m, b=dec: b(m).cross, ws, f"dec{i}.cross")
        pairs += _mlp(lambda m, b=dec: b(m).mlp, ws, f"dec{i}.mlp")
    model = _set(model, pairs)
    src = _data(4, (2, 6), 13)
    tgt = _data(5, (2, 5), 13)
    ours = jax.jit(jax.vmap(lambda s, t: apply(p, ws, s, t)))(src, tgt)
    _close(ours, _run(model, src, tgt))


def test_mixture_of_experts_equals_equinox() -> None:
    p = T.mixture_of_experts()
    ws = _weights(p, 2)
    model = _abstract(E.MixtureOfExperts)
    flip = lambda a: jnp.swapaxes(a, 1, 2)  # noqa: E731  (Equinox stores (out, in))
    pairs = _ln(lambda m: m.ln, ws, "ln") + [(lambda m: m.gate.weight, ws["gate.w"].T)]
    pairs += [
        (lambda m: m.experts.layers[0].weight, flip(ws["w1"])),
        (lambda m: m.experts.layers[0].bias, ws["b1"]),
        (lambda m: m.experts.layers[1].weight, flip(ws["w2"])),
        (lambda m: m.experts.layers[1].bias, ws["b2"]),
    ]
    model = _set(model, pairs)
    xs = _data(6, (3, 4, 8))
    ours = jax.jit(jax.vmap(lambda x: apply(p, ws, x)))(xs)
    _close(ours, _run(model, xs))


def test_traced_models_are_no_longer_than_equinox() -> None:
    rows = COUNT.table()
    assert [r[0] for r in rows] == ["mixer", "encoder_decoder", "mixture_of_experts"]
    for name, ours, theirs in rows:
        assert 0 < ours <= theirs, (name, ours, theirs)


def test_traced_models_use_no_hand_routing() -> None:
    tree = ast.parse((ROOT / "examples" / "traced_models.py").read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert names.isdisjoint({"assoc", "unassoc", "swap"}), names & {"assoc", "unassoc", "swap"}
