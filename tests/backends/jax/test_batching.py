"""The batching choice, pinned: per-example + jax.vmap, not a batched lowering.

Measured by ``benchmarks/batching.py`` on a transformer block: ``vmap`` of the
compiled per-example block optimises to *fewer* HLO instructions than the same
block written by hand on batched arrays (the batched lowering), for the forward
pass and the training step, with the same flops. This test keeps it so on a
small block: if a change to the backend made vmap worse than the batched
lowering, the choice would have to be revisited.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from backends.jax import apply, batched, init
from topos.nn.transformer import transformer_block

SEQ, D, HEADS, BATCH = 8, 16, 2, 4


def _layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array) -> jax.Array:
    mean = x.mean(-1, keepdims=True)
    var = jnp.square(x - mean).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + 1e-5) * scale + bias


def _attention(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    *lead, seq, d = q.shape
    split = (*lead, seq, HEADS, d // HEADS)
    q, k, v = q.reshape(split), k.reshape(split), v.reshape(split)
    scores = jnp.einsum("...qhc,...khc->...hqk", q, k) / math.sqrt(d // HEADS)
    weights = jax.nn.softmax(jnp.where(jnp.tril(jnp.ones((seq, seq), bool)), scores, -1e9), -1)
    return jnp.einsum("...hqk,...khc->...qhc", weights, v).reshape(*lead, seq, d)


def batched_lowering(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """The block on ``(batch, seq, d)`` written by hand: the alternative lowering."""
    y = _layer_norm(x, p["ln1.scale"], p["ln1.bias"])
    q, k, v = (y @ p[f"attn.{n}.w"] + p[f"attn.{n}.b"] for n in "qkv")
    x = x + _attention(q, k, v) @ p["attn.o.w"] + p["attn.o.b"]
    y = _layer_norm(x, p["ln2.scale"], p["ln2.bias"])
    hidden = jax.nn.gelu(y @ p["mlp.fc1.w"] + p["mlp.fc1.b"], approximate=True)
    return x + hidden @ p["mlp.fc2.w"] + p["mlp.fc2.b"]


def instructions(compiled: Any) -> int:
    return sum(
        bool(re.match(r"\s*(ROOT )?%\S+ = ", line)) for line in compiled.as_text().splitlines()
    )


def flops(compiled: Any) -> float:
    cost = compiled.cost_analysis()
    return float((cost[0] if isinstance(cost, list) else cost)["flops"])


@functools.cache
def _setup() -> tuple[Any, dict[str, jax.Array], jax.Array]:
    block = transformer_block(SEQ, D, HEADS)
    params = init(block, jax.random.key(0))
    rng = np.random.default_rng(0)  # move biases and scales off their initial 0 and 1
    params = {k: v + 0.1 * rng.normal(size=v.shape).astype(np.float32) for k, v in params.items()}
    return block, params, jnp.asarray(rng.normal(size=(BATCH, SEQ, D)), jnp.float32)


def test_the_batched_lowering_computes_the_same_block() -> None:
    block, params, xs = _setup()
    np.testing.assert_allclose(
        jax.jit(jax.vmap(lambda x: apply(block, params, x)))(xs),
        jax.jit(batched_lowering)(params, xs),
        rtol=1e-4,
        atol=1e-5,
    )


def test_vmap_compiles_to_no_more_instructions_than_the_batched_lowering() -> None:
    block, params, xs = _setup()
    ours = batched(block)
    for wrap in (lambda f: f, lambda f: jax.value_and_grad(lambda p, x: jnp.mean(f(p, x) ** 2))):
        a = jax.jit(wrap(ours)).lower(params, xs).compile()
        b = jax.jit(wrap(batched_lowering)).lower(params, xs).compile()
        assert instructions(a) <= instructions(b), (instructions(a), instructions(b))
        assert flops(a) <= flops(b) * 1.001
