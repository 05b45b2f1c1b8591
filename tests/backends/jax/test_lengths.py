"""Variable lengths in the JAX backend: one diagram, one parameter dict, any length.

A causal model built with ``seq = Dim("seq", 128)`` and initialised once runs at
any length ``n <= 128``; by causality its logits equal the first ``n`` rows of
the full-length run (GPT-style learned positions, Llama-style RoPE).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from backends.jax import apply, batched, compile, constant, init
from topos import R, nn
from topos.dims import specialise
from topos.nn import primitives as P
from topos.nn.zoo import llama
from topos.objects import Dim

SEQ = Dim("seq", 128)
MODELS = {
    "gpt": lambda: nn.language_model(17, SEQ, 16, 2, 2, tie=True),
    "llama": lambda: llama(17, SEQ, 16, 4, 2, 32, kv_heads=2),
}


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_any_length_equals_the_prefix_of_the_full_run(arch: str) -> None:
    model = MODELS[arch]()
    params = init(model, jax.random.key(0))
    ids = jax.random.randint(jax.random.key(1), (128,), 0, 17)
    run = jax.jit(lambda p, x: apply(model, p, x))
    full = run(params, ids)
    assert full.shape == (128, 17)
    for n in (1, 37):
        part = run(params, ids[:n])
        assert part.shape == (n, 17)
        np.testing.assert_allclose(part, full[:n], atol=1e-5, rtol=0)
    two = batched(model)(params, jnp.stack([ids[:37], ids[1:38]]))
    np.testing.assert_allclose(two[0], full[:37], atol=1e-5, rtol=0)


def test_compile_binds_dims_from_the_input_and_checks_bounds() -> None:
    seq = Dim("seq", 8)
    table = P.slice_axis(R(8, 2), 0, seq, axis=0)
    f = compile(table)
    assert f.arrow == table
    g = compile(constant(np.arange(16.0).reshape(8, 2)) >> table)
    with pytest.raises(ValueError, match=r"lengths of Dim\('seq', 8\) are not read off"):
        g(())  # the input does not say the length: it is not guessed
    assert compile(specialise(g.arrow, seq=3))(()).tolist() == [[0, 1], [2, 3], [4, 5]]
    h = compile(P.relu(R(seq, 2)))
    assert h(jnp.ones((3, 2))).shape == (3, 2)
    with pytest.raises(ValueError, match="length 9, outside 1..8"):
        h(jnp.ones((9, 2)))
