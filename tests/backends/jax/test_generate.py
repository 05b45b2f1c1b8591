"""generate: the cache derived from the diagram decodes as the uncached model runs.

For each stock architecture (small sizes, float32): greedy tokens of cached
decoding equal those of rerunning the model on the whole sequence, and the logits
agree within 1e-5; left-padded batches equal each prompt alone; bad calls say why.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from backends.jax import DecodeError, apply, generate, init
from backends.jax.decoding import decode_step
from topos import R, nn
from topos.nn import primitives as P
from topos.nn.zoo import llama
from topos.objects import Dim
from topos.para import Para

V = 13
SEQ = Dim("seq", 16)

ARCHS = {
    "transformer": lambda: nn.transformer(V, SEQ, 16, 2, 2),
    "gpt-learned-tied": lambda: nn.language_model(V, SEQ, 16, 2, 2, tie=True),
    "none-mqa-geglu": lambda: nn.language_model(
        V, SEQ, 16, 4, 1, kv_heads=1, positional="none", activation="geglu"
    ),
    "rope-gqa-rms-swiglu": lambda: nn.language_model(
        V,
        SEQ,
        16,
        4,
        2,
        kv_heads=2,
        positional="rope",
        norm="rms",
        activation="swiglu",
        bias=False,
        mlp_hidden=24,
    ),  # fmt: skip
    "neox-parallel-partial-rope": lambda: nn.language_model(
        V, SEQ, 16, 2, 2, positional="rope", parallel=True, rope_dims=4
    ),
    "llama-zoo": lambda: llama(V, SEQ, 16, 4, 2, 32, kv_heads=2),
}


MODELS = {name: build() for name, build in ARCHS.items()}
PROMPT, STEPS = [3, 1, 4, 1, 5], 6


_run = jax.jit(lambda params, ids, model: apply(model, params, ids), static_argnums=2)


def _uncached(model: Para, params: dict, prompt: list[int], new: np.ndarray) -> np.ndarray:
    """The logits each new token was drawn from, by running the model on the whole text.

    By causality, row ``t`` of one run on ``prompt + new`` is the model on the prefix
    of length ``t + 1``: greedy decoding without a cache drew ``new[i]`` from row
    ``len(prompt) + i - 1``, so tokens are the same iff they are these rows' argmaxes.
    """
    ids = jnp.asarray([*prompt, *new.tolist()], jnp.int32)
    rows = _run(params, ids, model)
    return np.asarray(rows[len(prompt) - 1 : len(prompt) - 1 + len(new)])


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_cached_greedy_equals_uncached(arch: str) -> None:
    model = MODELS[arch]
    params = init(model, jax.random.key(1))
    key = jax.random.key(0)
    ids, logits = generate(model, params, PROMPT, STEPS, key, temperature=0, return_logits=True)
    ref = _uncached(model, params, PROMPT, ids)
    assert ids.tolist() == ref.argmax(-1).tolist()
    np.testing.assert_allclose(logits, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ["gpt-learned-tied", "rope-gqa-rms-swiglu"])
def test_left_padded_batch_equals_each_prompt_alone(arch: str) -> None:
    model = MODELS[arch]
    params = init(model, jax.random.key(2))
    prompts = [PROMPT, [5], [8, 8, 3]]
    key = jax.random.key(0)
    batch, logits = generate(model, params, prompts, STEPS, key, temperature=0, return_logits=True)
    assert batch.shape == (3, STEPS)
    for row, lg, prompt in zip(batch, logits, prompts, strict=True):
        ref = _uncached(model, params, prompt, row)  # the prompt alone, unpadded, uncached
        assert row.tolist() == ref.argmax(-1).tolist()
        np.testing.assert_allclose(lg, ref, atol=1e-5, rtol=0)
    alone = generate(model, params, PROMPT, STEPS, key, temperature=0)
    assert alone.tolist() == batch[0].tolist()
    # the same batch as a 2-D left-padded array with lengths
    padded = np.full((3, 5), 12, np.int32)  # the padding ids are ignored
    for i, p in enumerate(prompts):
        padded[i, 5 - len(p) :] = p
    again = generate(model, params, padded, STEPS, key, temperature=0, lengths=[5, 1, 3])
    assert again.tolist() == batch.tolist()


def test_sampling_is_seeded_and_top_k_one_is_greedy() -> None:
    model = MODELS["gpt-learned-tied"]
    params = init(model, jax.random.key(1))
    a = generate(model, params, PROMPT, STEPS, jax.random.key(5), temperature=1.0)
    b = generate(model, params, PROMPT, STEPS, jax.random.key(5), temperature=1.0)
    assert a.tolist() == b.tolist() and ((0 <= a) & (a < V)).all()
    greedy = generate(model, params, PROMPT, STEPS, jax.random.key(0), temperature=0)
    top1 = generate(model, params, PROMPT, STEPS, jax.random.key(6), temperature=2.0, top_k=1)
    assert top1.tolist() == greedy.tolist()


def test_decode_step_in_chunks_equals_one_run() -> None:
    model = MODELS["rope-gqa-rms-swiglu"]
    params = init(model, jax.random.key(4))
    ids = jnp.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], jnp.int32)
    step = jax.jit(decode_step, static_argnums=0)
    first, state = step(model, params, ids[:5], {}, 0)
    second, state = step(model, params, ids[5:10], state, 5)
    last, _ = step(model, params, ids[10:], state, 10)
    whole = _run(params, ids, model)
    np.testing.assert_allclose(np.concatenate([first, second, last]), whole, atol=1e-5, rtol=0)


def test_errors_name_the_problem() -> None:
    model = MODELS["gpt-learned-tied"]
    params = init(model, jax.random.key(0))
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="17 prompt tokens and 1 steps need 17 positions"):
        generate(model, params, [1] * 17, 1, key)
    with pytest.raises(ValueError, match="need 17 positions, the model has 16"):
        generate(model, params, [1, 2], 16, key)
    with pytest.raises(
        ValueError, match=r"token ids must be in 0..12, got 13 \(prompt 1, position 0\)"
    ):
        generate(model, params, [[1, 2], [13]], 2, key)
    with pytest.raises(ValueError, match="token ids must be in 0..12, got -1"):
        generate(model, params, [-1], 2, key)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        generate(model, params, [1], 0, key)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, params, [1], 2, key, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k must be an int in 1..13"):
        generate(model, params, [1], 2, key, top_k=0)
    with pytest.raises(ValueError, match="lengths must give 1..2 real tokens"):
        generate(model, params, np.ones((2, 2), np.int32), 2, key, lengths=[2, 3])
    fixed = nn.language_model(V, 8, 16, 2, 1)
    with pytest.raises(TypeError, match=r"fixed \(Fin\(13, 8\)\).*Dim\('seq', 8\)"):
        generate(fixed, init(fixed, key), [1], 2, key)


def test_a_box_mixing_new_rows_is_refused() -> None:
    x = R(SEQ, V)
    mixing = Para.lift(P.softmax(x, 0))  # normalises along the positions: not causal
    model = nn.embedding(V, V, lead=(SEQ,)) >> mixing
    params = init(model, jax.random.key(0))
    with pytest.raises(DecodeError, match="'softmax'.*reduces along the new rows"):
        generate(model, params, [1, 2], 2, jax.random.key(0))
