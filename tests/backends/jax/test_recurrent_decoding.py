"""generate with recurrent and hybrid models: the carried state is the cache, equal to the
uncached run, one state whatever the context."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from backends.jax import apply, init
from backends.jax.decoding import DecodeError, decode_step, generate
from topos.nn.recurrent import recurrent_lm
from topos.objects import Dim
from topos.para import Para

V = 11


def model(kind: str, attention: tuple[int, ...] = (), max_len: int = 16) -> tuple[Para, Any]:
    """A small model and random parameters (NumPy: no compilation for ``init``)."""
    layers = 1 + len(attention)
    lm = recurrent_lm(V, Dim("seq", max_len), 8, layers, kind=kind, state=4, attention=attention)
    rng = np.random.default_rng(0)
    params = {
        k: (0.4 * rng.standard_normal(v.ob.shape)).astype(np.float32)
        for k, v in lm.parameters().items()
    }
    return lm, params


def init_shapes(lm: Para) -> Any:
    return jax.eval_shape(lambda k: init(lm, k), jax.random.key(0))


def greedy_uncached(lm: Para, params: Any, prompt: list[int], steps: int) -> list[int]:
    ids = list(prompt)
    run = jax.jit(lambda p, x: apply(lm, p, x))
    for _ in range(steps):
        ids.append(int(jnp.argmax(run(params, jnp.array(ids))[-1])))
    return ids[len(prompt) :]


@pytest.mark.parametrize(
    ("kind", "attention"),
    [("gru", ()), ("lstm", ()), ("rnn", ()), ("ssm", ()), ("mamba", ()), ("mamba", (1,))],
)
def test_cached_decoding_equals_the_uncached_run(kind: str, attention: tuple[int, ...]) -> None:
    lm, params = model(kind, attention)
    ids = jnp.array([3, 1, 4, 1, 5, 9])
    step = jax.jit(decode_step, static_argnums=0)
    a, state = step(lm, params, ids[:5], {}, 0)
    b, state = step(lm, params, ids[5:], state, 5)  # one token: the state is the whole cache
    whole = jax.jit(lambda p, x: apply(lm, p, x))(params, ids)
    np.testing.assert_allclose(np.asarray(jnp.concatenate([a, b])), np.asarray(whole), atol=2e-5)


def test_greedy_generate_equals_uncached_greedy_for_a_hybrid() -> None:
    lm, params = model("gru", attention=(0,))
    got = generate(lm, params, [2, 7, 1], 5, jax.random.key(0), temperature=0)
    assert got.tolist() == greedy_uncached(lm, params, [2, 7, 1], 5)


def test_a_batch_of_left_padded_prompts_decodes_each_as_alone() -> None:
    lm, params = model("mamba")
    prompts = [[1, 2, 3, 4], [5], [6, 7]]
    batch = generate(lm, params, prompts, 4, jax.random.key(0), temperature=0)
    for row, prompt in zip(batch, prompts, strict=True):
        alone = generate(lm, params, prompt, 4, jax.random.key(0), temperature=0)
        assert row.tolist() == alone.tolist()


def test_the_cache_of_a_recurrent_model_is_one_state_whatever_the_context() -> None:
    shapes = []
    for max_len in (16, 4096):
        lm, params = model("lstm", max_len=max_len)
        state = jax.eval_shape(
            lambda p, m=lm: decode_step(m, p, jnp.array([1, 2, 3]), {}, 0)[1], params
        )
        shapes.append([v.shape for v in jax.tree.leaves(state)])
    assert shapes[0] == shapes[1] == [(8,), (8,)]  # (h, c): the same at every context


def test_a_reversed_fold_is_refused_by_name() -> None:
    from topos import nn  # noqa: PLC0415
    from topos.nn import recurrent as rec  # noqa: PLC0415

    seq = Dim("seq", 8)
    lm = (
        nn.embedding(V, 4, lead=(seq,))
        >> rec.rnn(4, 4, seq, reverse=True)
        >> nn.linear(4, V, lead=(seq,))
    )
    with pytest.raises(DecodeError, match="folds from the end of the sequence"):
        jax.eval_shape(lambda p: decode_step(lm, p, jnp.array([1, 2]), {}, 0), init_shapes(lm))
