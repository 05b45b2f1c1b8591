"""generate: the cache derived from the diagram decodes as the uncached model runs.

For each stock architecture (small sizes, float32): greedy tokens of cached
decoding equal those of rerunning the model on the whole sequence, and the logits
agree within 1e-5; left-padded batches equal each prompt alone; bad calls say why.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from backends.jax import DecodeError, apply, generate, init
from backends.jax.decoding import decode_step
from topos import Id, R, copy, curry, ev, nn
from topos.arrows import Arrow
from topos.nn import primitives as P
from topos.nn.zoo import llama
from topos.objects import Dim, Ob
from topos.para import Para, repeat

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


def _lm(block: Para) -> Para:
    """A language model around one kind of block: embedding, two blocks, head."""
    return (
        nn.embedding(V, 16, lead=(SEQ,), name="embed")
        >> repeat(block, 2).named("blocks")
        >> nn.linear(16, V, lead=(SEQ,), name="head")
    )


X = R(SEQ, 16)
SCORES = P.einsum("sd,td->st", X, X)


def _einsum_attention(*steps: Callable[[Ob], Arrow]) -> Para:
    """Single-head attention without projections: scores, then ``steps``, then the mix."""
    pattern: Arrow = SCORES
    for step in steps:
        pattern = pattern >> step(SCORES.cod)
    mix = P.einsum("st,td->sd", SCORES.cod, X)
    return Para.lift(copy(X) >> ((copy(X) >> pattern >> curry(mix)) * Id(X)) >> ev(X, X))


def _mean_of_scores() -> Para:
    """Each row scaled by the mean of its masked scores: a mean along the positions."""
    a = SCORES.cod
    mean = SCORES >> P.causal_mask(a, 0.0) >> P.reduce_mean(a, 1, keepdims=True)
    return Para.lift(copy(X) >> ((copy(X) >> mean) * Id(X)) >> P.mul(R(SEQ, 1), X))


def _softmax_over_heads() -> Para:
    """Two-head attention, masked, whose softmax runs over the heads, not the positions."""
    y = R(SEQ, 2, 8)
    scores = P.einsum("shd,thd->hst", y, y)
    a = scores.cod
    pattern = scores >> P.causal_mask(a) >> P.softmax(a, 0)
    mix = P.einsum("hst,thd->shd", a, y)
    body = copy(y) >> ((copy(y) >> pattern >> curry(mix)) * Id(y)) >> ev(y, y)
    return Para.lift(P.reshape(X, SEQ, 2, 8) >> body >> P.reshape(y, SEQ, 16))


NOT_CAUSAL: dict[str, tuple[Callable[[], Para], str]] = {
    "attention(causal=False)": (
        lambda: nn.transformer_block(SEQ, 16, 2, causal=False),
        "'softmax'.*reduces along cached positions that no causal_mask hides",
    ),
    "self_attention(causal=False)": (
        lambda: nn.decoder.block(SEQ, 16, 4, kv_heads=2, causal=False),
        "'softmax'.*reduces along cached positions that no causal_mask hides",
    ),
    "linear attention(causal=False)": (
        lambda: nn.attention(SEQ, 16, 2, causal=False, softmax=False),
        "'einsum'.*sums over cached positions that no causal_mask hides",
    ),
    "einsum attention without the mask": (
        lambda: _einsum_attention(lambda a: P.softmax(a, -1)),
        "'softmax'.*reduces along cached positions",
    ),
    "a mask of 0 before a softmax": (
        lambda: _einsum_attention(lambda a: P.causal_mask(a, 0.0), lambda a: P.softmax(a, -1)),
        "'softmax'.*reduces along cached positions",
    ),
    "a mask of -1e9 summed without a softmax": (
        lambda: _einsum_attention(lambda a: P.causal_mask(a)),
        "'einsum'.*sums over cached positions",
    ),
    "a softmax over the heads": (
        _softmax_over_heads,
        "'einsum'.*sums over cached positions",
    ),
    "a mean along the positions": (
        _mean_of_scores,
        "'reduce_mean'.*averages over every cached position",
    ),
}


@pytest.mark.parametrize("case", sorted(NOT_CAUSAL))
def test_a_decoder_whose_attention_is_not_causal_is_refused(case: str) -> None:
    # it decoded, with logits up to 3.8 away from the model's own (issue 22, item 3)
    build, message = NOT_CAUSAL[case]
    model = _lm(build())
    params = init(model, jax.random.key(0))
    with pytest.raises(DecodeError, match=message + ".*the model is not causal"):
        generate(model, params, [1, 2, 3], 3, jax.random.key(0))


CAUSAL: dict[str, tuple[Callable[[Ob], Arrow], ...]] = {
    "mask then softmax": (lambda a: P.causal_mask(a), lambda a: P.softmax(a, -1)),
    "scale, mask, scale, softmax": (
        lambda a: P.scale(a, 0.5),
        lambda a: P.causal_mask(a),
        lambda a: P.scale(a, 2.0),
        lambda a: P.softmax(a, -1),
    ),
    "a mask of 0, linear": (lambda a: P.causal_mask(a, 0.0),),
    "mask then relu": (lambda a: P.causal_mask(a), P.relu),
}


@pytest.mark.parametrize("case", sorted(CAUSAL))
def test_a_causal_einsum_attention_decodes_as_it_runs(case: str) -> None:
    model = _lm(_einsum_attention(*CAUSAL[case]))
    params = init(model, jax.random.key(1))
    key = jax.random.key(0)
    ids, logits = generate(model, params, PROMPT, 3, key, temperature=0, return_logits=True)
    ref = _uncached(model, params, PROMPT, ids)
    np.testing.assert_allclose(logits, ref, atol=1e-5 * max(1.0, float(np.abs(ref).max())))


def test_a_prompt_that_fills_the_context_decodes() -> None:
    # 16 tokens and 1 step raised a DecodeError about softmax "along the new rows" (issue 22, 14)
    model = MODELS["gpt-learned-tied"]
    params = init(model, jax.random.key(1))
    prompt = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3]
    key = jax.random.key(0)
    ids, logits = generate(model, params, prompt, 1, key, temperature=0, return_logits=True)
    whole = _run(params, jnp.asarray(prompt, jnp.int32), model)
    np.testing.assert_allclose(logits[0], whole[-1], atol=1e-5, rtol=0)
    assert ids.tolist() == [int(whole[-1].argmax())]
    padded = generate(model, params, [prompt, [4]], 1, key, temperature=0)
    assert padded[0].tolist() == ids.tolist()
    rows, _ = decode_step(model, params, jnp.asarray(prompt, jnp.int32), {}, 0)
    np.testing.assert_allclose(rows, whole, atol=1e-5, rtol=0)


def test_bad_ids_and_lengths_are_named() -> None:
    # id 2**70 raised OverflowError, lengths ["a"] a UFuncTypeError; 2.5 and True were taken
    model = MODELS["gpt-learned-tied"]
    params = init(model, jax.random.key(0))
    key, rows = jax.random.key(0), np.ones((2, 3), np.int32)
    with pytest.raises(ValueError, match=rf"in 0..12, got {2**70} \(prompt 0, position 1\)"):
        generate(model, params, [1, 2**70], 1, key)
    with pytest.raises(ValueError, match=rf"in 0..12, got {-(2**70)} \(prompt 1, position 0\)"):
        generate(model, params, [[1], [-(2**70), 2]], 1, key)
    bad: list[Any] = [["a", 1], [2.5, 1], [True, 1], [None, 1], [2**70, 1], 2, "ab"]
    for lengths in bad:
        with pytest.raises(ValueError, match=r"lengths must give 1..3 real tokens .*an int each"):
            generate(model, params, rows, 1, key, lengths=lengths)
    assert generate(model, params, rows, 1, key, lengths=np.array([3, 1])).shape == (2, 1)
    one = nn.language_model(V, Dim("seq", 1), 16, 2, 1)
    with pytest.raises(ValueError, match=r"one position \(Dim\('seq', 1\)\): nothing to cache"):
        generate(one, init(one, key), [1], 1, key)


def test_decode_step_refuses_ids_and_offsets_out_of_range() -> None:
    model = MODELS["gpt-learned-tied"]
    params = init(model, jax.random.key(0))
    bad, ones = jnp.array([1, 2, 13]), jnp.ones(3, jnp.int32)
    with pytest.raises(ValueError, match=r"decode_step: ids: token ids of Fin\(13, 3\) .*got 13"):
        decode_step(model, params, bad, {}, 0)
    with pytest.raises(ValueError, match="3 new rows at offset 14 do not fit in the 16 positions"):
        decode_step(model, params, ones, {}, 14)
    step = jax.jit(decode_step, static_argnums=0)
    with pytest.raises(Exception, match=r"decode_step: ids: a token id of Fin.* is outside 0..12"):
        jax.block_until_ready(step(model, params, bad, {}, 0))
    with pytest.raises(Exception, match="the new rows do not fit in the 16 positions"):
        jax.block_until_ready(step(model, params, ones, {}, 14))
    loose = jax.jit(functools.partial(decode_step, check_ids=False), static_argnums=0)
    assert loose(model, params, bad, {}, 0)[0].shape == (3, V)


class _Compiles:
    """Counts XLA compilations while active (a listener of ``jax.monitoring``)."""

    count = 0
    active = False

    @classmethod
    def listen(cls, name: str, seconds: float, **kwargs: Any) -> None:
        if cls.active and name == "/jax/core/compile/backend_compile_duration":
            cls.count += 1

    def __enter__(self) -> _Compiles:
        type(self).count, type(self).active = 0, True
        return self

    def __exit__(self, *exc: object) -> None:
        type(self).active = False


jax.monitoring.register_event_duration_secs_listener(_Compiles.listen)


def test_repeated_calls_reuse_one_compiled_decoder() -> None:
    """Prompts of nearby lengths and any number of steps share one program (issue 25):
    a fresh lm (equal to the first) compiles its decoder once, then never again."""
    model = nn.language_model(V, SEQ, 8, 2, 1)
    params = init(model, jax.random.key(0))
    generate(model, params, [1, 2], 3, jax.random.key(0), temperature=0.5)  # compiles
    with _Compiles() as seen:
        for prompt, steps in [([1, 2, 3], 9), ([4] * 8, 2), ([5], 1), ([6, 7], 12)]:
            out = generate(model, params, prompt, steps, jax.random.key(1), temperature=0.5)
            assert out.shape == (steps,)
        same = nn.language_model(V, SEQ, 8, 2, 1)
        generate(same, params, [1, 2], 4, jax.random.key(0), temperature=0.5)
    assert seen.count == 0


def test_init_compiles_its_drawing_program_once() -> None:
    model = nn.language_model(V, SEQ, 8, 2, 1)
    first = init(model, jax.random.key(0))
    with _Compiles() as seen:
        again = init(model, jax.random.key(0))
        other = init(model, jax.random.key(1))
    assert seen.count == 0
    assert all(bool((first[k] == again[k]).all()) for k in first)
    assert not bool((first["embed.table"] == other["embed.table"]).all())


def test_a_stack_deeper_than_the_unrolled_limit_decodes_with_a_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = sys.modules["backends.jax.decoding.generate"]  # (the package exports the function)
    monkeypatch.setattr(module, "DECODE_UNROLL_MAX", 1)  # 2 layers: scanned
    model = nn.language_model(V + 1, Dim("seq", 8), 8, 1, 2)  # a model no other test decodes
    params = init(model, jax.random.key(3))
    ids, logits = generate(model, params, [1, 2], 4, jax.random.key(0), temperature=0,
                           return_logits=True)  # fmt: skip
    ref = _uncached(model, params, [1, 2], ids)
    assert ids.tolist() == ref.argmax(-1).tolist()
    np.testing.assert_allclose(logits, ref, atol=1e-5, rtol=0)


def _while_body_ops(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """``(opcode, shape)`` of each instruction the while loop's body runs (fusions inside)."""
    comps: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in text.splitlines():
        head = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
        if head:
            comps[head.group(1)] = lines = []
        else:
            lines.append(line)
    body = re.search(r" while\(.*?body=%?([\w.\-]+)", text)
    assert body is not None, "no while loop in the decoder"
    todo, seen, ops = [body.group(1)], set(), []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in comps.get(name, []):
            todo += re.findall(r"(?:calls|to_apply)=%?([\w.\-]+)", line)
            m = re.match(r"\s*(?:ROOT )?%?[\w.\-]+ = \w+\[([\d,]*)\]\S* ([a-z\-]+)\(", line)
            if m:
                ops.append((m.group(2), tuple(int(d) for d in m.group(1).split(",") if d)))
    return ops


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("arch", ["gpt-learned-tied", "rope-gqa-rms-swiglu"])
def test_the_loop_over_tokens_never_copies_a_cache(arch: str, batch: int) -> None:
    """The caches are held heads first, as the attention dots read them: held positions
    first, XLA copied every cache, transposed, for each new token (issue 25). One
    example runs unmapped: with a batch axis of length 1, XLA wrote each key cache
    twice (once per shape) and copied it whole four times per token. Values hold the
    positions last, the axis their einsum sums over."""
    from backends.jax.decoding.generate import _compiled

    model = MODELS[arch]
    params = init(model, jax.random.key(0))
    run = _compiled(model, 8, 0.0, None, 0)
    args = (params, np.zeros((batch, 8), np.int32), np.zeros(batch, np.int32), np.int32(5),
            np.int32(4), jax.random.key(0))  # fmt: skip
    ops = _while_body_ops(run.lower(*args).compile().as_text())
    caches = {s for op, s in ops
              if op == "dynamic-update-slice" and len(s) >= 3 and SEQ.max in s[1:]}  # fmt: skip
    assert caches, ops
    if batch > 1:
        assert {s[0] for s in caches} == {batch}, caches
    # keys hold the positions second-to-last, values (summed over them) last
    assert {s.index(SEQ.max) - len(s) for s in caches} == {-2, -1}, caches
    size = {math.prod(s) for s in caches}
    copied = [(op, s) for op, s in ops if op in ("copy", "transpose") and math.prod(s) in size]
    assert copied == []
