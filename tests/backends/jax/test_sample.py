"""sample: temperature sampling over a sliding window, seeded, with checked prompts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from backends.jax import init, register, sample
from topos import Box, Fin, R, nn
from topos.para import Para, constant

VOCAB, SEQ = 11, 4


def _successor(box: Box, v: tuple[jax.Array, jax.Array]) -> jax.Array:
    """Logits at position i predict window[i] + 1 (mod vocab), sharpened by the weight."""
    w, window = v
    return w[0] * jax.nn.one_hot((window + 1) % VOCAB, VOCAB)


register("test.sample.successor", _successor, cls="smooth")
SUCCESSOR = Para(
    R(1),
    Box("test.sample.successor", R(1) * Fin(VOCAB, SEQ), R(SEQ, VOCAB)),
    params={"w": constant(100.0)},
)


@pytest.mark.parametrize(("prompt_len", "length"), [(1, 3), (2, 12), (7, 5)])
def test_sample_slides_its_window_past_the_context(prompt_len: int, length: int) -> None:
    params = init(SUCCESSOR, jax.random.key(0))
    prompt = np.arange(prompt_len, dtype=np.int32)
    out = sample(SUCCESSOR, params, prompt, length, jax.random.key(0), temperature=0.5)
    assert out.tolist() == [(prompt_len + k) % VOCAB for k in range(length)]


def test_sample_is_seeded() -> None:
    params = {"w": jnp.zeros(1)}  # uniform logits
    a = sample(SUCCESSOR, params, [1], 30, jax.random.key(1))
    b = sample(SUCCESSOR, params, [1], 30, jax.random.key(1))
    c = sample(SUCCESSOR, params, [1], 30, jax.random.key(2))
    assert (a == b).all() and not (a == c).all()
    assert a.min() >= 0 and a.max() < VOCAB


def test_sample_runs_a_transformer() -> None:
    p = nn.transformer(7, 5, 8, 2, 1)
    out = sample(p, init(p, jax.random.key(0)), [1, 2, 3], 9, jax.random.key(0))
    assert out.shape == (9,) and out.dtype == np.int32


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ([], "non-empty list of token ids"),
        ([1.5], "non-empty list of token ids"),
        ([1, 11], "prompt ids must be in 0..10 for Fin\\(11, 4\\), got 11 at index 1"),
        ([-1], "got -1 at index 0"),
    ],
)
def test_bad_prompts_are_one_line_errors(prompt: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sample(SUCCESSOR, {"w": jnp.ones(1)}, prompt, 3, jax.random.key(0))


def test_bad_arguments() -> None:
    params = {"w": jnp.ones(1)}
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        sample(SUCCESSOR, params, [1], 3, jax.random.key(0), temperature=0.0)
    with pytest.raises(TypeError, match="steps must be an int >= 0"):
        sample(SUCCESSOR, params, [1], -1, jax.random.key(0))
    with pytest.raises(TypeError, match="expected a Para Fin\\(V, n\\) -> R\\(n, V\\)"):
        sample(nn.linear(2, 3), params, [1], 3, jax.random.key(0))


def test_a_model_of_variable_length_samples_over_its_bound() -> None:
    from topos.dims import specialise
    from topos.objects import Dim

    p = nn.transformer(VOCAB, Dim("seq", SEQ), 8, 2, 1)
    params = init(p, jax.random.key(0))
    fixed = specialise(p, seq=SEQ)
    a = sample(p, params, [1, 2], 5, jax.random.key(3))
    b = sample(fixed, params, [1, 2], 5, jax.random.key(3))
    assert a.tolist() == b.tolist()
