"""Training through the composite lens gives optax's trajectory (digits MLP, demo transformer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from backends.jax import apply, init
from backends.jax.core.layout import stacked_paths, unstack
from backends.jax.training.fit import fit
from backends.jax.training.lenses import (
    Learner,
    Objective,
    adam,
    cross_entropy,
    fit_lens,
    gradient,
    gradient_descent,
    momentum,
    nesterov,
)
from topos.nn import mlp
from topos.nn.decoder import language_model
from topos.objects import Fin, R
from topos.para import Para

PAIRS: dict[str, tuple[Callable[[], Learner], Callable[[], Any]]] = {
    "gradient descent": (lambda: gradient_descent(0.1), lambda: optax.sgd(0.1)),
    "momentum": (lambda: momentum(0.05, 0.9), lambda: optax.sgd(0.05, momentum=0.9)),
    "nesterov": (
        lambda: nesterov(0.05, 0.9),
        lambda: optax.sgd(0.05, momentum=0.9, nesterov=True),
    ),
    "adam": (lambda: adam(3e-3), lambda: optax.adam(3e-3)),
}


def digits(batch: int = 64) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images.reshape(-1, 64) / 16.0).astype(np.float32)
    y = data.target.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(y))

    def batches(step: int) -> tuple[np.ndarray, np.ndarray]:
        idx = order[(step * batch) % (len(y) - batch) :][:batch]
        return x[idx], y[idx]

    return batches


def with_optax(
    p: Para, loss: Callable[..., Any], opt: Any, params: Any, batches: Any, steps: int
) -> Any:
    def objective(q: Any, b: Any) -> Any:
        return jax.vmap(lambda x, t: loss(apply(p, q, x, check_ids=False), t))(*b).mean()

    @jax.jit
    def step(q: Any, s: Any, b: Any) -> Any:
        g = jax.grad(objective)(q, b)
        u, s = opt.update(g, s, q)
        return optax.apply_updates(q, u), s

    s = opt.init(params)
    for k in range(steps):
        params, s = step(params, s, batches(k))
    return params


def xent(logits: Any, label: Any) -> Any:
    return optax.softmax_cross_entropy_with_integer_labels(logits, label).mean()


def biggest_difference(a: Any, b: Any) -> float:
    return max(float(jnp.max(jnp.abs(a[k] - b[k]))) for k in a)


@pytest.mark.parametrize("name", list(PAIRS))
def test_digits_mlp_follows_optax(name: str) -> None:
    follow_on_digits(name, 100)


def test_digits_mlp_follows_optax_for_a_few_steps() -> None:
    follow_on_digits("adam", 10)


def follow_on_digits(name: str, steps: int) -> None:
    p = mlp([64, 32, 10])
    params = init(p, jax.random.key(0))
    learner, opt = PAIRS[name]
    ours, losses = fit_lens(p, cross_entropy(R(10), Fin(10)), learner(), params, digits(), steps)
    theirs = with_optax(p, xent, opt(), params, digits(), steps)
    assert biggest_difference(ours, theirs) <= 1e-6
    assert losses[-1] < losses[0]


def demo_transformer(vocab: int = 24, seq: int = 16) -> Para:
    from backends.apps.demo import DemoConfig, build_model

    return build_model(DemoConfig(d_model=32, heads=2, layers=2, seq=seq), vocab)


def token_batches(vocab: int, seq: int, batch: int = 8) -> Callable[[int], Any]:
    ids = np.random.default_rng(0).integers(0, vocab, 4096).astype(np.int32)

    def batches(step: int) -> tuple[np.ndarray, np.ndarray]:
        starts = np.random.default_rng(step).integers(0, len(ids) - seq - 1, batch)
        windows = ids[starts[:, None] + np.arange(seq + 1)]
        return windows[:, :-1], windows[:, 1:]

    return batches


def follow_on_tokens(name: str, dtype: str, steps: int = 100) -> dict[str, float]:
    from topos.dtypes import with_dtype

    vocab, seq = 24, 16
    p = with_dtype(demo_transformer(vocab, seq), dtype)
    params = init(p, jax.random.key(0))
    learner, opt = PAIRS[name]
    loss = cross_entropy(R(seq, vocab, dtype=dtype), Fin(vocab, seq))
    ours, losses = fit_lens(p, loss, learner(), params, token_batches(vocab, seq), steps)
    theirs = with_optax(p, xent, opt(), params, token_batches(vocab, seq), steps)
    assert losses[-1] < losses[0]
    return {k: float(jnp.max(jnp.abs(ours[k] - theirs[k]))) for k in ours}


#: A gradient below this fraction of the largest is rounding noise: float32 rounds at 6e-8.
NOISE = 1e-6


def start_gradients(dtype: str) -> dict[str, float]:
    """max |d loss / d param| per parameter of the demo transformer at step 0, by jax.grad."""
    from topos.dtypes import with_dtype

    vocab, seq = 24, 16
    p = with_dtype(demo_transformer(vocab, seq), dtype)
    params = init(p, jax.random.key(0))
    xs, ts = token_batches(vocab, seq)(0)

    def objective(q: Any) -> Any:
        return jax.vmap(lambda x, t: xent(apply(p, q, x, check_ids=False), t))(xs, ts).mean()

    grads = jax.jit(jax.grad(objective))(params)
    return {k: float(jnp.max(jnp.abs(v))) for k, v in grads.items()}


def zero_gradients(grads: dict[str, float]) -> set[str]:
    """The parameters whose gradient is at noise level, relative to the largest."""
    top = max(grads.values())
    return {k for k, v in grads.items() if v <= NOISE * top}


@pytest.mark.slow
def test_only_the_key_bias_has_a_zero_gradient() -> None:
    """The key bias adds ``q · b`` to every score of a query: softmax is blind to it, so its
    gradient is zero exactly. In float64 it is ~1e-20 of the largest gradient (noise), in
    float32 ~1e-11; every other parameter's is above 1e-4 of the largest."""
    with jax.enable_x64(True):
        exact = start_gradients("float64")
    rounded = start_gradients("float32")
    assert zero_gradients(exact) == zero_gradients(rounded) == {"blocks.attn.k.b"}
    assert exact["blocks.attn.k.b"] <= 1e-15 * max(exact.values())
    assert min(v for k, v in rounded.items() if k != "blocks.attn.k.b") >= 1e-4 * max(
        rounded.values()
    )


@pytest.mark.parametrize("name", ["nesterov", "adam"])
def test_demo_transformer_follows_optax(name: str) -> None:
    diffs = follow_on_tokens(name, "float32")
    # Parameters whose exact gradient is zero (the key bias, see the test above) get only
    # rounding noise, different in the two programs. Adam divides by sqrt(v) + 1e-8, so it
    # turns noise of ~1e-11 into steps of ~1e-3 lr: those parameters drift apart by up to
    # ~1e-4 in 100 steps, and do not change the loss. Every other parameter follows optax
    # to 1e-5; in float64 (below) all of them do, to 1e-10.
    noise = zero_gradients(start_gradients("float32"))
    assert noise == {"blocks.attn.k.b"}
    assert max(v for k, v in diffs.items() if k not in noise) <= 1e-5, diffs
    if name != "adam":  # without the normalisation the noise stays noise
        assert max(diffs[k] for k in noise) <= 1e-6, diffs


def test_demo_transformer_follows_optax_adam_float64() -> None:
    """In float64 the key bias's gradient is ~1e-20 (below Adam's 1e-8): it stays put, and the
    whole trajectory follows optax (measured: 1.1e-12 for the others, 5e-13 for it)."""
    with jax.enable_x64(True):
        diffs = follow_on_tokens("adam", "float64")
    assert max(v for k, v in diffs.items() if k != "blocks.attn.k.b") <= 1e-11, diffs
    assert max(diffs.values()) <= 1e-10, diffs


def digits_objective() -> tuple[Objective, Any]:
    p = mlp([64, 32, 10])
    return Objective(p, cross_entropy(R(10), Fin(10))), init(p, jax.random.key(0))


def test_fit_with_a_learner_follows_fit_with_optax() -> None:
    """``fit(..., learner=)`` trains through the lens; ``optimizer=`` through jax.grad of a
    loss function (an ``Objective`` itself would give its reverse derivative to optax)."""
    objective, params = digits_objective()
    learner, opt = PAIRS["adam"]
    ours = fit(objective, params, digits(), learner=learner(), steps=10, progress=False)
    theirs = fit(lambda q, b: objective(q, b), params, digits(), optimizer=opt(), steps=10,
                 progress=False)  # fmt: skip
    assert biggest_difference(ours.params, theirs.params) <= 1e-6
    np.testing.assert_allclose(ours.history["loss"], theirs.history["loss"], rtol=1e-6)
    assert ours.step == 10 and ours.history["loss"][-1] < ours.history["loss"][0]


def test_fit_with_a_learner_evaluates_and_stops_at_a_nan() -> None:
    objective, params = digits_objective()
    data = digits()

    def batches(step: int) -> Any:
        xs, ts = data(step)
        return (xs * np.nan if step == 3 else xs), ts

    with pytest.raises(FloatingPointError, match="at step 3") as caught:
        fit(objective, params, batches, learner=adam(1e-3), steps=6, progress=False,
            eval_fn=lambda q: float(q["mlp.fc1.b"].sum()), eval_every=2)  # fmt: skip
    result = caught.value.result  # type: ignore[attr-defined]
    assert result.step == 3 and len(result.history["loss"]) == 3
    assert [e["step"] for e in result.history["eval"]] == [2]
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in result.params.values())


def test_fit_with_a_learner_refuses_what_it_cannot_do_by_name() -> None:
    objective, params = digits_objective()
    data = digits()
    with pytest.raises(TypeError, match="pass optimizer= .* or learner="):
        fit(objective, params, data, steps=1, progress=False)
    with pytest.raises(TypeError, match="does not take optimizer, frozen"):
        fit(objective, params, data, learner=adam(1e-3), optimizer=optax.sgd(0.1),
            frozen=["mlp.fc1"], steps=1, progress=False)  # fmt: skip
    with pytest.raises(TypeError, match=r"loss=Objective\(p, loss_arrow\)"):
        fit(lambda q, b: 0.0, params, data, learner=adam(1e-3), steps=1, progress=False)
    with pytest.raises(TypeError, match="parameter dict of init"):
        fit(objective, {"w": jnp.ones(2)}, data, learner=adam(1e-3), steps=1, progress=False)
    with pytest.raises(TypeError, match="learner must be a Learner"):
        fit(objective, params, data, learner=optax.adam(1e-3), steps=1, progress=False)  # type: ignore[arg-type]


def llama_objective() -> tuple[Objective, Any]:
    """A small Llama-style LM (RoPE, RMSNorm, SwiGLU, grouped-query attention)."""
    p = language_model(32, 8, 16, 4, 2, kv_heads=2, positional="rope", norm="rms",
                       activation="swiglu", bias=False)  # fmt: skip
    return Objective(p, cross_entropy(R(8, 32), Fin(32, 8))), init(p, jax.random.key(1))


def token_batch(vocab: int = 32, seq: int = 8, batch: int = 4) -> tuple[Any, Any]:
    ids = np.random.default_rng(3).integers(0, vocab, (batch, seq + 1)).astype(np.int32)
    return jnp.asarray(ids[:, :-1]), jnp.asarray(ids[:, 1:])


def objectives() -> dict[str, Callable[[], tuple[Objective, Any, Any]]]:
    def mlp_case() -> tuple[Objective, Any, Any]:
        objective, params = digits_objective()
        return objective, params, digits(16)(0)

    def transformer_case() -> tuple[Objective, Any, Any]:
        p = demo_transformer(24, 16)
        obj = Objective(p, cross_entropy(R(16, 24), Fin(24, 16)))
        return obj, init(p, jax.random.key(2)), token_batches(24, 16, 4)(0)

    def llama_case() -> tuple[Objective, Any, Any]:
        return (*llama_objective(), token_batch())

    return {"mlp": mlp_case, "transformer": transformer_case, "llama": llama_case}


@pytest.mark.parametrize("name", list(objectives()))
def test_the_gradient_of_an_objective_is_jax_grad_of_its_call(name: str) -> None:
    """``Objective.value_and_grad`` (the reverse derivative, the batch sum fused into the
    weight products) equals ``jax.value_and_grad`` of the objective's mean loss."""
    objective, params, batch = objectives()[name]()
    value, grads = jax.jit(objective.value_and_grad)(params, batch)
    ref_value, ref = jax.jit(jax.value_and_grad(objective))(params, batch)
    assert sorted(grads) == sorted(params)
    np.testing.assert_allclose(float(value), float(ref_value), rtol=1e-6)
    scale = max(float(jnp.max(jnp.abs(g))) for g in ref.values())
    for k in ref:
        assert grads[k].shape == params[k].shape, k
        assert float(jnp.max(jnp.abs(grads[k] - ref[k]))) <= 1e-5 * scale, k


def test_the_gradient_keeps_the_layer_layout() -> None:
    """Parameters held one array per layer (``unstack``) get their gradient that way."""
    objective, params = llama_objective()
    batch = token_batch()
    split = unstack(objective.p, params)
    _, apart = jax.jit(gradient(objective.p, objective.loss))(split, batch)
    _, whole = jax.jit(objective.value_and_grad)(params, batch)
    paths = stacked_paths(objective.p, unrolled=True)
    assert paths
    for k in paths:
        assert type(apart[k]).__name__ == "Unstacked" and len(apart[k]) == params[k].shape[0]
        for i, g in enumerate(apart[k]):
            np.testing.assert_allclose(np.asarray(g), np.asarray(whole[k][i]), atol=1e-6)


@pytest.mark.parametrize("traced", [False, True])
def test_an_objective_refuses_token_ids_out_of_range(traced: bool) -> None:
    """Inputs and targets are both checked, concrete or under ``jax.jit``, naming which."""
    objective, params = llama_objective()
    xs, ts = token_batch()

    def run(f: Callable[..., Any], batch: Any) -> Any:
        return jax.block_until_ready((jax.jit(f) if traced else f)(params, batch))

    for f in (objective, objective.value_and_grad):
        with pytest.raises(Exception, match=r"input \(the batch\)"):
            run(f, (xs.at[1, 2].set(32), ts))
        with pytest.raises(Exception, match=r"target \(the batch\)"):
            run(f, (xs, ts.at[0, 0].set(-1)))
    with pytest.raises(TypeError, match=r"a batch \(xs, ts\)"):
        objective(params, xs)
