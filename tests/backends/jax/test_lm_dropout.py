"""Dropout in ``topos.nn.decoder``: off means exactly the plain model; on, a function of the key
that drops each site at rate p independently."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from backends.jax import apply
from topos.nn.decoder import block, language_model
from topos.nn.feedforward import SEED

SMALL = dict(kv_heads=1, positional="rope", norm="rms", activation="swiglu", bias=False)


@pytest.mark.parametrize("parallel", [False, True])
def test_zero_rate_and_inference_are_the_plain_model_and_training_is_keyed(parallel: bool) -> None:
    plain = language_model(20, 6, 16, 2, 2, parallel=parallel, **SMALL)
    off = language_model(20, 6, 16, 2, 2, dropout=0.0, parallel=parallel, **SMALL)
    on = language_model(20, 6, 16, 2, 2, dropout=0.3, parallel=parallel, **SMALL)
    inference = language_model(
        20, 6, 16, 2, 2, dropout=0.3, train=False, parallel=parallel, **SMALL
    )
    assert inference == plain
    assert on.dom == off.dom == plain.dom * SEED and on.parameters() == plain.parameters()
    rng = np.random.default_rng(0)
    params = {
        k: jnp.asarray(0.3 * rng.standard_normal(v.ob.shape), jnp.float32)
        for k, v in plain.parameters().items()
    }
    tokens = np.arange(6, dtype=np.int32) % 20
    want = np.asarray(jax.jit(lambda t: apply(plain, params, t))(tokens))
    got = jax.jit(lambda t, k: apply(off, params, t, k))(tokens, np.int32(5))
    np.testing.assert_array_equal(np.asarray(got), want)
    run = jax.jit(lambda t, k: apply(on, params, t, k))
    a, again, other = (np.asarray(run(tokens, np.int32(k))) for k in (5, 5, 6))
    np.testing.assert_array_equal(a, again)
    assert np.abs(a - other).max() > 1e-3 and np.abs(a - want).max() > 1e-3


def test_each_residual_branch_drops_at_rate_p_independently() -> None:
    """Weights 0 and output biases 1: both branches output 1, so from x = 0 the block gives
    drop(1) + drop(1), each entry 0 w.p. p², 2/(1-p) w.p. (1-p)², 1/(1-p) otherwise."""
    seq, d, p = 32, 64, 0.4
    blk = block(seq, d, 2, dropout=p)
    assert blk.dom == blk.cod == blk.dom.left * SEED
    params = {k: np.zeros(v.ob.shape, np.float32) for k, v in blk.parameters().items()}
    params["attn.o.b"][:] = 1.0
    params["mlp.fc2.b"][:] = 1.0
    run = jax.jit(lambda k: apply(blk, params, np.zeros((seq, d), np.float32), k))
    outs, keys = zip(*(run(np.int32(k)) for k in range(4)), strict=True)
    y = np.stack([np.asarray(o) for o in outs]) * (1 - p)
    assert abs((y == 0).mean() - p * p) < 0.02
    assert abs((y == 2).mean() - (1 - p) ** 2) < 0.02
    assert abs(y.mean() - 2 * (1 - p)) < 0.03
    assert len({int(k) for k in keys} | set(range(4))) == 8  # the key passed on is a new one
    np.testing.assert_array_equal(np.asarray(run(np.int32(0))[0]), np.asarray(outs[0]))
