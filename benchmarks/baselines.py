"""Hand-written Equinox and Flax NNX versions of the topos transformer.

These are the baselines the diagram-compiled model is measured against
(``benchmarks/transformer.py``). Each is written the way that library's users write
a small decoder-only language model, with the architecture, shapes, parameter count
and initialisers of ``topos.nn.transformer`` (the shared contract):

- token embedding ``(vocab, d)`` and positional table ``(seq, d)``, normal(0.02);
- ``layers`` pre-norm blocks ``x = x + attn(ln1(x)); x = x + mlp(ln2(x))``;
  causal multi-head attention with Q, K, V, O weights ``(d, d)`` normal(0.02) and
  zero biases, scores scaled by ``1/sqrt(d/heads)``, masked scores set to ``-1e9``;
  MLP ``d -> mlp_ratio*d -> d`` with GELU (tanh approximation), normal(0.02) weights
  and zero biases; layer norms with eps ``1e-5``, scale ones, bias zeros;
- a final layer norm and a head ``(d, vocab)`` normal(0.02) with zero bias.

Equinox: an ``eqx.Module`` per example (``(seq,) int32 -> (seq, vocab)``), batched
with ``jax.vmap``; the blocks are either a stacked module run with ``jax.lax.scan``
("scan over layers", the Equinox FAQ idiom) or a tuple of blocks run by a Python loop.
NNX: an ``nnx.Module`` on batched arrays ``(batch, seq)``; stacked blocks built with
``nnx.vmap`` and run with ``nnx.scan``, or an ``nnx.List`` run by a Python loop.

Each library gets its fastest idiomatic train step: the library's own
(``eqx.filter_jit`` with donation; ``nnx.jit`` with ``nnx.Optimizer``) or the
"flattened" one (split once, one ``jax.jit`` over ``(params, opt_state, batch)`` with
donated buffers). The optimizer is ``optax.adamw`` everywhere.

>>> import jax
>>> cfg = TINY
>>> cfg
Config(vocab=11, seq=8, d=16, heads=2, layers=2, mlp_ratio=4)
>>> model = EqxTransformer(cfg, jax.random.key(0))
>>> count_params(model) == cfg.n_params()
True
>>> model(jax.numpy.zeros(8, "int32")).shape
(8, 11)
>>> nnx_model = NnxTransformer(cfg, seed=0)
>>> count_params(nnx_model) == cfg.n_params()
True
>>> nnx_model(jax.numpy.zeros((3, 8), "int32")).shape
(3, 8, 11)
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from flax import nnx

__all__ = [
    "TINY",
    "Config",
    "EqxBlock",
    "EqxTransformer",
    "NnxBlock",
    "NnxTransformer",
    "BLOCK_PATHS",
    "TOP_PATHS",
    "count_params",
    "cross_entropy",
    "load_params",
    "eqx_loss",
    "eqx_train_step",
    "nnx_loss",
    "nnx_train_step",
]

Array = jax.Array
Batch = tuple[Array, Array]  # (tokens, next tokens), both (batch, seq) int32

EPS = 1e-5
STD = 0.02


@dataclasses.dataclass(frozen=True)
class Config:
    """The transformer's size; the same fields as ``topos.nn.transformer``'s arguments.

    >>> Config(vocab=10, seq=4, d=8, heads=2, layers=1).n_params()
    1090
    """

    vocab: int
    seq: int
    d: int
    heads: int
    layers: int
    mlp_ratio: int = 4

    def n_params(self) -> int:
        """The number of scalars the contract's transformer has."""
        d, h = self.d, self.mlp_ratio * self.d
        block = 4 * (d * d + d) + (d * h + h) + (h * d + d) + 2 * 2 * d
        return (
            self.vocab * d
            + self.seq * d
            + self.layers * block
            + 2 * d
            + d * self.vocab
            + self.vocab
        )


#: The tiny size of the examples and tests.
TINY = Config(vocab=11, seq=8, d=16, heads=2, layers=2)


def cross_entropy(logits: Array, targets: Array) -> Array:
    """Mean next-token cross-entropy in nats over every position.

    >>> round(float(cross_entropy(jnp.zeros((2, 3, 4)), jnp.zeros((2, 3), "int32"))), 4)
    1.3863
    """
    return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()


def count_params(model: Any) -> int:
    """The number of trainable scalars of an Equinox or NNX model (or of its
    ``eqx.filter_eval_shape`` / ``nnx.eval_shape``).

    >>> count_params(EqxTransformer(TINY, jax.random.key(0))) == TINY.n_params()
    True
    """
    if isinstance(model, nnx.Module):
        leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
    else:
        leaves = jax.tree.leaves(model)
    # Arrays, or their shapes under eval_shape (jax.ShapeDtypeStruct).
    return sum(math.prod(x.shape) for x in leaves if hasattr(x, "shape"))


def _layer_norm(x: Array, scale: Array, bias: Array) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = jnp.square(x - mean).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + EPS) * scale + bias


def _causal_attention(q: Array, k: Array, v: Array, heads: int) -> Array:
    """Multi-head causal attention on ``(..., seq, d)`` projections."""
    *lead, seq, d = q.shape
    split = (*lead, seq, heads, d // heads)
    q, k, v = q.reshape(split), k.reshape(split), v.reshape(split)
    scores = jnp.einsum("...qhc,...khc->...hqk", q, k) / math.sqrt(d // heads)
    mask = jnp.tril(jnp.ones((seq, seq), dtype=bool))
    weights = jax.nn.softmax(jnp.where(mask, scores, -1e9), axis=-1)
    return jnp.einsum("...hqk,...khc->...qhc", weights, v).reshape(*lead, seq, d)


# ---------------------------------------------------------------------------------
# Equinox


def _normal(key: Array, *shape: int) -> Array:
    return STD * jax.random.normal(key, shape, jnp.float32)


class EqxBlock(eqx.Module):
    """One pre-norm transformer block on a single sequence ``(seq, d) -> (seq, d)``."""

    ln1_scale: Array
    ln1_bias: Array
    wq: Array
    bq: Array
    wk: Array
    bk: Array
    wv: Array
    bv: Array
    wo: Array
    bo: Array
    ln2_scale: Array
    ln2_bias: Array
    w1: Array
    b1: Array
    w2: Array
    b2: Array
    heads: int = eqx.field(static=True)

    def __init__(self, cfg: Config, key: Array) -> None:
        d, h = cfg.d, cfg.mlp_ratio * cfg.d
        kq, kk, kv, ko, k1, k2 = jax.random.split(key, 6)
        self.ln1_scale, self.ln1_bias = jnp.ones(d), jnp.zeros(d)
        self.wq, self.bq = _normal(kq, d, d), jnp.zeros(d)
        self.wk, self.bk = _normal(kk, d, d), jnp.zeros(d)
        self.wv, self.bv = _normal(kv, d, d), jnp.zeros(d)
        self.wo, self.bo = _normal(ko, d, d), jnp.zeros(d)
        self.ln2_scale, self.ln2_bias = jnp.ones(d), jnp.zeros(d)
        self.w1, self.b1 = _normal(k1, d, h), jnp.zeros(h)
        self.w2, self.b2 = _normal(k2, h, d), jnp.zeros(d)
        self.heads = cfg.heads

    def __call__(self, x: Array) -> Array:
        y = _layer_norm(x, self.ln1_scale, self.ln1_bias)
        q, k, v = y @ self.wq + self.bq, y @ self.wk + self.bk, y @ self.wv + self.bv
        x = x + _causal_attention(q, k, v, self.heads) @ self.wo + self.bo
        y = _layer_norm(x, self.ln2_scale, self.ln2_bias)
        return x + jax.nn.gelu(y @ self.w1 + self.b1, approximate=True) @ self.w2 + self.b2


class EqxTransformer(eqx.Module):
    """The decoder-only LM, one sequence at a time: ``(seq,) int32 -> (seq, vocab)``.

    With ``scan=True`` the blocks are one ``EqxBlock`` whose arrays carry a leading
    layer axis (built with ``eqx.filter_vmap``) and run under ``jax.lax.scan``;
    with ``scan=False`` they are a tuple of blocks run by a Python loop.

    >>> m = EqxTransformer(TINY, jax.random.key(1), scan=False)
    >>> s = EqxTransformer(TINY, jax.random.key(1), scan=True)
    >>> bool(jnp.allclose(m(jnp.arange(8)), s(jnp.arange(8)), atol=1e-5))
    True
    """

    embed: Array
    pos: Array
    blocks: Any
    lnf_scale: Array
    lnf_bias: Array
    head_w: Array
    head_b: Array
    scan: bool = eqx.field(static=True)

    def __init__(self, cfg: Config, key: Array, *, scan: bool = True) -> None:
        ke, kp, kb, kh = jax.random.split(key, 4)
        self.embed, self.pos = _normal(ke, cfg.vocab, cfg.d), _normal(kp, cfg.seq, cfg.d)
        keys = jax.random.split(kb, cfg.layers)
        if scan:
            self.blocks = eqx.filter_vmap(lambda k: EqxBlock(cfg, k))(keys)
        else:
            self.blocks = tuple(EqxBlock(cfg, k) for k in keys)
        self.lnf_scale, self.lnf_bias = jnp.ones(cfg.d), jnp.zeros(cfg.d)
        self.head_w, self.head_b = _normal(kh, cfg.d, cfg.vocab), jnp.zeros(cfg.vocab)
        self.scan = scan

    def __call__(self, tokens: Array) -> Array:
        x = self.embed[tokens] + self.pos
        if self.scan:
            dynamic, static = eqx.partition(self.blocks, eqx.is_array)

            def step(x: Array, layer: Any) -> tuple[Array, None]:
                return eqx.combine(layer, static)(x), None

            x, _ = jax.lax.scan(step, x, dynamic)
        else:
            for block in self.blocks:
                x = block(x)
        return _layer_norm(x, self.lnf_scale, self.lnf_bias) @ self.head_w + self.head_b


def eqx_loss(model: EqxTransformer, batch: Batch) -> Array:
    """Mean cross-entropy of a batch, the per-example model under ``jax.vmap``."""
    tokens, targets = batch
    return cross_entropy(jax.vmap(model)(tokens), targets)


def eqx_train_step(
    model: EqxTransformer, tx: optax.GradientTransformation, *, flat: bool = True
) -> tuple[Callable[[Any, Any, Batch], tuple[Any, Any, Array]], Any, Any]:
    """The train step, its initial state and optimizer state: ``step(state, opt, batch)``.

    ``flat=True``: partition once, one ``jax.jit`` over ``(params, opt_state, batch)``
    with donated buffers; ``state`` is the array part of the model (rebuild it with
    ``eqx.combine(state, static)``). ``flat=False``: ``eqx.filter_jit`` with
    ``donate="all-except-first"`` over the whole model; ``state`` is the model.

    >>> model = EqxTransformer(TINY, jax.random.key(0))
    >>> step, state, opt = eqx_train_step(model, optax.adam(1e-2))
    >>> batch = (jnp.zeros((2, 8), "int32"), jnp.ones((2, 8), "int32"))
    >>> losses = []
    >>> for _ in range(5):
    ...     state, opt, loss = step(state, opt, batch)
    ...     losses.append(float(loss))
    >>> losses[-1] < losses[0]
    True
    """
    params, static = eqx.partition(model, eqx.is_array)
    opt_state = tx.init(params)
    if flat:

        def flat_step(params: Any, opt_state: Any, batch: Batch) -> tuple[Any, Any, Array]:
            def loss_fn(p: Any) -> Array:
                return eqx_loss(eqx.combine(p, static), batch)

            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        return jax.jit(flat_step, donate_argnums=(0, 1)), params, opt_state

    @eqx.filter_jit(donate="all-except-first")
    def filter_step(
        batch: Batch, model: EqxTransformer, opt_state: Any
    ) -> tuple[EqxTransformer, Any, Array]:
        loss, grads = eqx.filter_value_and_grad(eqx_loss)(model, batch)
        updates, opt_state = tx.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    def step(model: Any, opt_state: Any, batch: Batch) -> tuple[Any, Any, Array]:
        return filter_step(batch, model, opt_state)

    return step, model, opt_state


# ---------------------------------------------------------------------------------
# Flax NNX


class NnxBlock(nnx.Module):
    """One pre-norm transformer block on batched sequences ``(batch, seq, d)``."""

    def __init__(self, cfg: Config, rngs: nnx.Rngs) -> None:
        d, h = cfg.d, cfg.mlp_ratio * cfg.d
        normal, zeros, ones = nnx.initializers.normal(STD), nnx.initializers.zeros, jnp.ones

        def linear(din: int, dout: int) -> tuple[nnx.Param, nnx.Param]:
            return nnx.Param(normal(rngs.params(), (din, dout))), nnx.Param(zeros(None, dout))

        self.ln1_scale, self.ln1_bias = nnx.Param(ones(d)), nnx.Param(zeros(None, d))
        self.wq, self.bq = linear(d, d)
        self.wk, self.bk = linear(d, d)
        self.wv, self.bv = linear(d, d)
        self.wo, self.bo = linear(d, d)
        self.ln2_scale, self.ln2_bias = nnx.Param(ones(d)), nnx.Param(zeros(None, d))
        self.w1, self.b1 = linear(d, h)
        self.w2, self.b2 = linear(h, d)
        self.heads = cfg.heads

    def __call__(self, x: Array) -> Array:
        y = _layer_norm(x, self.ln1_scale[...], self.ln1_bias[...])
        q = y @ self.wq[...] + self.bq[...]
        k = y @ self.wk[...] + self.bk[...]
        v = y @ self.wv[...] + self.bv[...]
        x = x + _causal_attention(q, k, v, self.heads) @ self.wo[...] + self.bo[...]
        y = _layer_norm(x, self.ln2_scale[...], self.ln2_bias[...])
        hidden = jax.nn.gelu(y @ self.w1[...] + self.b1[...], approximate=True)
        return x + hidden @ self.w2[...] + self.b2[...]


class NnxTransformer(nnx.Module):
    """The decoder-only LM on batches: ``(batch, seq) int32 -> (batch, seq, vocab)``.

    With ``scan=True`` the blocks are built stacked with ``nnx.vmap`` and run with
    ``nnx.scan``; with ``scan=False`` they are an ``nnx.List`` run by a Python loop.

    >>> NnxTransformer(TINY, seed=1, scan=True)(jnp.zeros((2, 8), "int32")).shape
    (2, 8, 11)
    """

    def __init__(self, cfg: Config, *, seed: int = 0, scan: bool = True) -> None:
        rngs = nnx.Rngs(params=seed)
        d = cfg.d
        normal = nnx.initializers.normal(STD)
        self.embed = nnx.Param(normal(rngs.params(), (cfg.vocab, d)))
        self.pos = nnx.Param(normal(rngs.params(), (cfg.seq, d)))
        if scan:

            @nnx.split_rngs(splits=cfg.layers)
            @nnx.vmap(in_axes=(0,), out_axes=0)
            def stacked(rngs: nnx.Rngs) -> NnxBlock:
                return NnxBlock(cfg, rngs)

            self.blocks: Any = stacked(rngs)
        else:
            self.blocks = nnx.List([NnxBlock(cfg, rngs) for _ in range(cfg.layers)])
        self.lnf_scale = nnx.Param(jnp.ones(d))
        self.lnf_bias = nnx.Param(jnp.zeros(d))
        self.head_w = nnx.Param(normal(rngs.params(), (d, cfg.vocab)))
        self.head_b = nnx.Param(jnp.zeros(cfg.vocab))
        self.scan = scan

    def __call__(self, tokens: Array) -> Array:
        x = self.embed[...][tokens] + self.pos[...]
        if self.scan:

            @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
            def run(x: Array, block: NnxBlock) -> Array:
                return block(x)

            x = run(x, self.blocks)
        else:
            for block in self.blocks:
                x = block(x)
        x = _layer_norm(x, self.lnf_scale[...], self.lnf_bias[...])
        return x @ self.head_w[...] + self.head_b[...]


def nnx_loss(model: NnxTransformer, batch: Batch) -> Array:
    """Mean cross-entropy of a batch."""
    tokens, targets = batch
    return cross_entropy(model(tokens), targets)


def nnx_train_step(
    model: NnxTransformer, tx: optax.GradientTransformation, *, flat: bool = True
) -> tuple[Callable[[Any, Any, Batch], tuple[Any, Any, Array]], Any, Any]:
    """The train step, its initial state and optimizer state: ``step(state, opt, batch)``.

    ``flat=True``: ``nnx.split`` once, one ``jax.jit`` over ``(params, opt_state,
    batch)`` with donated buffers, ``nnx.merge`` inside (the NNX performance guide's
    low-overhead loop); ``state`` is the ``nnx.State`` of parameters.
    ``flat=False``: ``nnx.jit`` with ``nnx.Optimizer`` (the NNX tutorial's step);
    ``state`` is the model and the optimizer state is the ``nnx.Optimizer``.

    >>> batch = (jnp.zeros((2, 8), "int32"), jnp.ones((2, 8), "int32"))
    >>> step, state, opt = nnx_train_step(NnxTransformer(TINY), optax.adam(1e-2))
    >>> losses = []
    >>> for _ in range(5):
    ...     state, opt, loss = step(state, opt, batch)
    ...     losses.append(float(loss))
    >>> losses[-1] < losses[0]
    True
    """
    if flat:
        graphdef, params = nnx.split(model, nnx.Param)
        opt_state = tx.init(params)

        def flat_step(params: Any, opt_state: Any, batch: Batch) -> tuple[Any, Any, Array]:
            def loss_fn(p: Any) -> Array:
                return nnx_loss(nnx.merge(graphdef, p), batch)

            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        return jax.jit(flat_step, donate_argnums=(0, 1)), params, opt_state

    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def nnx_step(model: NnxTransformer, optimizer: nnx.Optimizer, batch: Batch) -> Array:
        loss, grads = nnx.value_and_grad(nnx_loss)(model, batch)
        optimizer.update(model, grads)
        return loss

    def step(model: Any, optimizer: Any, batch: Batch) -> tuple[Any, Any, Array]:
        return model, optimizer, nnx_step(model, optimizer, batch)

    return step, model, optimizer


# ---------------------------------------------------------------------------------
# Loading the parameters of the diagram model

#: Baseline field -> ``topos.nn.transformer`` parameter path, outside the blocks ...
TOP_PATHS = {
    "embed": "embed.table",
    "pos": "pos.table",
    "lnf_scale": "ln_f.scale",
    "lnf_bias": "ln_f.bias",
    "head_w": "head.w",
    "head_b": "head.b",
}
#: ... and inside a block (the diagram stacks them under ``blocks.`` with a layer axis).
BLOCK_PATHS = {
    "ln1_scale": "ln1.scale",
    "ln1_bias": "ln1.bias",
    "wq": "attn.q.w",
    "bq": "attn.q.b",
    "wk": "attn.k.w",
    "bk": "attn.k.b",
    "wv": "attn.v.w",
    "bv": "attn.v.b",
    "wo": "attn.o.w",
    "bo": "attn.o.b",
    "ln2_scale": "ln2.scale",
    "ln2_bias": "ln2.bias",
    "w1": "mlp.fc1.w",
    "b1": "mlp.fc1.b",
    "w2": "mlp.fc2.w",
    "b2": "mlp.fc2.b",
}


def paired(mine: list[float], theirs: list[float]) -> str:
    """The median and quartiles of the step-by-step ratios ``mine / theirs`` (the steps
    ran back to back, so load hits both alike).

    >>> paired([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    'median 2.000 [1.500-2.500]'
    """
    ratios = [a / b for a, b in zip(mine, theirs, strict=True)]
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return f"median {statistics.median(ratios):.3f} [{q1:.3f}-{q3:.3f}]"


def load_params(model: Any, params: dict[str, Array]) -> Any:
    """The model with the diagram model's parameters ``{path: array}`` (paths of
    ``topos.nn.transformer``; block arrays stacked along a leading layer axis).

    Equinox models are returned anew; NNX models are updated in place and returned.
    Used to check that the baselines and the diagram compute the same function.

    >>> cfg = TINY
    >>> src = EqxTransformer(cfg, jax.random.key(0))
    >>> params = {p: getattr(src, f) for f, p in TOP_PATHS.items()}
    >>> params |= {f"blocks.{p}": getattr(src.blocks, f) for f, p in BLOCK_PATHS.items()}
    >>> loop = load_params(EqxTransformer(cfg, jax.random.key(1), scan=False), params)
    >>> nnx_model = load_params(NnxTransformer(cfg, seed=1, scan=False), params)
    >>> x = jnp.arange(8)
    >>> bool(jnp.allclose(src(x), loop(x), atol=1e-5))
    True
    >>> bool(jnp.allclose(src(x), nnx_model(x[None])[0], atol=1e-5))
    True
    """
    top = [(field, params[path]) for field, path in TOP_PATHS.items()]
    block = [(field, params[f"blocks.{path}"]) for field, path in BLOCK_PATHS.items()]
    if isinstance(model, nnx.Module):
        for field, value in top:
            getattr(model, field)[...] = value
        for field, value in block:
            if model.scan:
                getattr(model.blocks, field)[...] = value
            else:
                for i, blk in enumerate(model.blocks):
                    getattr(blk, field)[...] = value[i]
        return model

    def where(m: EqxTransformer) -> list[Any]:
        fields = [getattr(m, f) for f, _ in top]
        if m.scan:
            return fields + [getattr(m.blocks, f) for f, _ in block]
        return fields + [getattr(b, f) for b in m.blocks for f, _ in block]

    values = [v for _, v in top]
    if model.scan:
        values += [v for _, v in block]
    else:
        values += [v[i] for i in range(len(model.blocks)) for _, v in block]
    return eqx.tree_at(where, model, values)
