"""Encoder–decoder generation: the cached decoder equals the uncached model, the encoder
runs once, and later steps never read the memory (its keys and values are cached)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from backends.jax import apply, init
from backends.jax.decoding.seq2seq import decode_step, generate
from topos.nn.t5 import encoder_decoder, halves
from topos.objects import Dim

V, S, T = 13, 5, Dim("tgt", 6)
CFG = (V, S, T, 16, 2, 8, 24)
LAYERS = 2
ENC, DEC = halves(*CFG, layers=LAYERS, tie=False)
MODEL = encoder_decoder(*CFG, layers=LAYERS, tie=False)


def _params():
    params = init(MODEL, jax.random.key(0))
    rng = np.random.default_rng(0)  # norms away from ones, weights spread out
    return {k: (np.asarray(v) * rng.uniform(0.5, 2.0, v.shape)).astype(np.float32)
            for k, v in params.items()}  # fmt: skip


PARAMS = _params()


def test_sampled_steps_have_the_logits_of_the_uncached_model() -> None:
    src = np.array([[1, 2, 3, 4, 5], [7, 3, 9, 9, 0]], np.int32)
    toks, logits = generate(ENC, DEC, PARAMS, src, 6, jax.random.key(3), return_logits=True)
    assert toks.shape == (2, 6) and logits.shape == (2, 6, V)
    full = jax.jit(lambda p, s, t: apply(MODEL, p, (s, t)))
    worst = 0.0
    for b in range(2):
        prefix = np.concatenate([[0], toks[b, :-1]]).astype(np.int32)  # the start token first
        want = np.asarray(full(PARAMS, src[b], prefix))
        worst = max(worst, float(np.abs(want - logits[b]).max()))
    assert worst <= 1e-5, worst
    assert len(set(toks.ravel().tolist())) > 1  # sampling, not a constant


@pytest.mark.slow
def test_later_steps_read_the_cached_memory_not_the_memory() -> None:
    src = np.array([4, 1, 2, 8, 3], np.int32)
    mem_params = {k: PARAMS[k] for k in ENC.parameters()}
    dec_params = {k: PARAMS[k] for k in DEC.parameters()}
    memory = apply(ENC, mem_params, src)
    step = jax.jit(decode_step, static_argnums=0)
    _, state = step(DEC, dec_params, np.array([0], np.int32), memory, {}, 0)
    real, _ = step(DEC, dec_params, np.array([6], np.int32), memory, state, 1)
    nan, _ = step(DEC, dec_params, np.array([6], np.int32), np.full_like(memory, np.nan), state, 1)
    assert np.isfinite(np.asarray(nan)).all()
    np.testing.assert_array_equal(np.asarray(nan), np.asarray(real))
    widths = sorted({leaf.shape for leaf in jax.tree_util.tree_leaves(state)})
    assert (LAYERS, S, 16) in widths  # each layer's cross keys and values, one row per source token


def test_bad_calls_are_refused() -> None:
    with pytest.raises(ValueError, match="sources must have shape"):
        generate(ENC, DEC, PARAMS, [1, 2, 3], 2, jax.random.key(0))
    with pytest.raises(ValueError, match="steps must be an int in 1..6"):
        generate(ENC, DEC, PARAMS, [1, 2, 3, 4, 5], 7, jax.random.key(0))
    with pytest.raises(TypeError, match="decode must be a Para"):
        generate(ENC, ENC, PARAMS, [1, 2, 3, 4, 5], 2, jax.random.key(0))
