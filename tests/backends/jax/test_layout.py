"""The layer layout: stacked parameters of unrolled repeats held as one array per layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.jax import apply, batched, fit, init, load_checkpoint, sharding
from backends.jax.core.compile import UNROLL_MAX
from backends.jax.core.layout import Unstacked, restack, stacked_paths, to_layout, unstack
from backends.jax.decoding.generate import generate
from backends.jax.interop.equinox import Model
from topos import nn
from topos.objects import Dim
from topos.para import repeat

VOCAB, SEQ, D, HEADS = 11, 8, 16, 2


def lm(layers: int = 2, seq: Any = SEQ) -> Any:
    return nn.transformer(VOCAB, seq, D, HEADS, layers)


def tokens(batch: int, seed: int) -> jax.Array:
    return jax.random.randint(jax.random.key(seed), (batch, SEQ), 0, VOCAB)


def loss_of(p: Any) -> Any:
    logits = batched(p)

    def loss(params: Any, batch: Any) -> Any:
        x, y = batch
        return optax.softmax_cross_entropy_with_integer_labels(logits(params, x), y).mean()

    return loss


def batches(step: int) -> tuple[jax.Array, jax.Array]:
    x = tokens(4, step)
    return x, jnp.roll(x, -1, axis=1)


def close(a: Any, b: Any, tol: float = 1e-5) -> bool:
    return all(
        bool(jnp.allclose(x, y, rtol=tol, atol=tol))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_unstack_splits_exactly_the_parameters_of_unrolled_repeats() -> None:
    p = lm(2)
    params = init(p, jax.random.key(0))
    split = unstack(p, params)
    assert set(stacked_paths(p, unrolled=True)) == {
        k for k, v in split.items() if type(v) is Unstacked
    }
    assert all(k.startswith("body.") or k.startswith("blocks") for k in stacked_paths(p))
    for k in stacked_paths(p):
        assert len(split[k]) == 2 and split[k][1].shape == params[k].shape[1:]
        assert bool((split[k][1] == params[k][1]).all())
    assert {k: v for k, v in split.items() if k not in stacked_paths(p)} == {
        k: v for k, v in params.items() if k not in stacked_paths(p)
    }
    deep = lm(UNROLL_MAX + 1)  # a rolled scan keeps its stack
    assert stacked_paths(deep, unrolled=True) == ()
    deep_split = unstack(deep, init(deep, jax.random.key(0)))
    assert not any(type(v) is Unstacked for v in deep_split.values())


@settings(max_examples=12)  # each example compiles its own shapes
@given(n=st.integers(1, UNROLL_MAX), d=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_both_layouts_hold_the_same_numbers_and_give_the_same_function(
    n: int, d: int, seed: int
) -> None:
    p = repeat(nn.linear(d, d, name="l") >> nn.layer_norm(d, name="ln"), n)
    params = init(p, jax.random.key(seed))
    split = unstack(p, params)
    assert jax.tree.structure(restack(split)) == jax.tree.structure(params)
    assert all(
        bool((a == b).all())
        for a, b in zip(jax.tree.leaves(restack(split)), jax.tree.leaves(params), strict=True)
    )
    x = jax.random.normal(jax.random.key(seed ^ 1), (3, d))
    assert close(batched(p)(split, x), batched(p)(params, x))
    assert close(apply(p, split, x[0]), apply(p, params, x[0]))


def test_gradients_in_the_layer_layout_are_the_slices_of_the_stacked_ones() -> None:
    p = lm(2)
    params = init(p, jax.random.key(1))
    loss = loss_of(p)
    v1, g1 = jax.jit(jax.value_and_grad(loss))(params, batches(0))
    v2, g2 = jax.jit(jax.value_and_grad(loss))(unstack(p, params), batches(0))
    assert abs(float(v1) - float(v2)) < 1e-6
    assert any(type(g) is Unstacked for g in g2.values())
    assert close(restack(g2), g1)


def test_the_train_step_of_the_layer_layout_slices_no_parameter() -> None:
    p = lm(2)
    params = init(p, jax.random.key(0))
    loss = loss_of(p)

    def hlo(ps: Any) -> str:
        text: str = jax.jit(jax.grad(loss)).lower(ps, batches(0)).as_text(dialect="hlo")
        return text

    stacked_slices = hlo(params).count(" slice(")
    split_slices = hlo(unstack(p, params)).count(" slice(")
    assert split_slices < stacked_slices


def test_wrong_layers_are_named() -> None:
    p = lm(2)
    params = unstack(p, init(p, jax.random.key(0)))
    path = stacked_paths(p, unrolled=True)[0]
    short = {**params, path: Unstacked(params[path][:1])}
    with pytest.raises(ValueError, match=rf"params\['{path}'\]: got Unstacked of 1 arrays"):
        apply(p, short, tokens(1, 0)[0])
    bad = {**params, path: Unstacked((params[path][0], params[path][1][..., :1]))}
    with pytest.raises(ValueError, match=rf"params\['{path}\[1\]'\]: expected shape"):
        apply(p, bad, tokens(1, 0)[0])
    with pytest.raises(ValueError, match="to_layout: expected a stack of 2 layers"):
        to_layout({path: jnp.zeros((3, 2))}, {path: params[path]})


def test_fit_in_the_layer_layout_trains_as_stacked_and_checkpoints_stacked(tmp_path: Path) -> None:
    p = lm(2)
    params = init(p, jax.random.key(2))
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(3e-3, weight_decay=0.01))
    loss = loss_of(p)
    seen: list[tuple[int, ...]] = []
    path = stacked_paths(p, unrolled=True)[0]

    def eval_fn(ps: Any) -> float:
        seen.append(tuple(ps[path].shape))  # eval sees the stacked arrays
        return float(loss(ps, batches(99)))

    kw: dict[str, Any] = {"optimizer": opt, "progress": False, "eval_fn": eval_fn, "eval_every": 3}
    plain = fit(loss, params, batches, steps=6, **kw)
    ck = tmp_path / "run.ckpt"
    split = fit(loss, params, batches, steps=6, unstack=p, checkpoint=ck, **kw)
    assert seen and all(s == params[path].shape for s in seen)
    assert jax.tree.structure(split.params) == jax.tree.structure(plain.params)
    assert jax.tree.structure(split.opt_state) == jax.tree.structure(plain.opt_state)
    assert close(split.params, plain.params) and close(split.opt_state, plain.opt_state)
    assert np.allclose(split.history["loss"], plain.history["loss"], rtol=1e-5)
    saved = load_checkpoint(ck)
    assert (
        saved["paths"] == sorted(params)
        and saved["train"][saved["paths"].index(path)].shape == params[path].shape
    )

    # a stacked checkpoint resumes in either layout, and continues as the uninterrupted run
    half = tmp_path / "half.ckpt"
    fit(loss, params, batches, steps=3, optimizer=opt, checkpoint=half, progress=False)
    resumed = fit(
        loss, params, batches, steps=6, optimizer=opt, checkpoint=half, resume=True,
        unstack=p, progress=False,
    )  # fmt: skip
    straight = fit(loss, params, batches, steps=6, optimizer=opt, progress=False)
    assert close(resumed.params, straight.params) and close(resumed.opt_state, straight.opt_state)

    # a frozen stacked parameter stays one stacked array, bit-identical
    frozen = fit(loss, params, batches, steps=2, optimizer=opt, frozen=[path], unstack=p,
                 progress=False)  # fmt: skip
    assert np.array_equal(np.asarray(frozen.params[path]), np.asarray(params[path]))
    assert not close(frozen.params, params)  # the rest trained


def test_fit_unstack_true_takes_a_models_diagram_and_bad_uses_are_refused() -> None:
    p = lm(2)
    model = Model(p, jax.random.key(3))
    logits = batched(p)

    def loss(m: Any, batch: Any) -> Any:
        x, y = batch
        return optax.softmax_cross_entropy_with_integer_labels(logits(m.params, x), y).mean()

    opt = optax.adam(1e-3)
    a = fit(loss, model, batches, optimizer=opt, steps=3, progress=False)
    b = fit(loss, model, batches, optimizer=opt, steps=3, progress=False, unstack=True)
    assert isinstance(b.params, Model) and close(a.params, b.params)
    params = init(p, jax.random.key(3))
    with pytest.raises(TypeError, match="unstack=True takes the diagram of a Model"):
        fit(loss_of(p), params, batches, optimizer=opt, steps=1, unstack=True, progress=False)
    other = repeat(nn.linear(3, 3, name="other"), 2)
    with pytest.raises(ValueError, match=r"\['other.b', 'other.w'\] are not in params"):
        fit(loss_of(p), params, batches, optimizer=opt, steps=1, unstack=other, progress=False)
    with pytest.raises(TypeError, match="stacked_paths"):
        fit(loss_of(p), params, batches, optimizer=opt, steps=1, unstack="p", progress=False)


def test_fit_layers_is_the_old_name_of_unstack_and_warns() -> None:
    p = repeat(nn.linear(3, 3, name="l"), 2)
    params = init(p, jax.random.key(6))
    run = batched(p)

    def loss(ps: Any, x: jax.Array) -> jax.Array:
        return jnp.mean(run(ps, x) ** 2)

    def data(step: int) -> jax.Array:
        return jax.random.normal(jax.random.key(step), (4, 3))

    kw: dict[str, Any] = {"optimizer": optax.adam(1e-2), "steps": 3, "progress": False}
    new = fit(loss, params, data, unstack=p, **kw)
    with pytest.warns(DeprecationWarning, match="layers= is renamed unstack=") as record:
        old = fit(loss, params, data, layers=p, **kw)
    assert record[0].filename == __file__  # the warning points at the caller's line
    assert all(
        np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(jax.tree.leaves(old), jax.tree.leaves(new), strict=True)
    )
    mesh = sharding.make_mesh("1x1")
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="unstack= and mesh="):
        fit(loss, params, data, layers=p, mesh=mesh, **kw)  # routed through unstack=
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="pass unstack= only"):
        fit(loss, params, data, unstack=p, layers=p, **kw)


def test_generate_takes_the_layer_layout() -> None:
    p = lm(2, Dim("seq", SEQ))
    params = init(p, jax.random.key(4))
    key = jax.random.key(0)
    a, la = generate(p, params, [1, 2, 3], 4, key, temperature=0, return_logits=True)
    b, lb = generate(p, unstack(p, params), [1, 2, 3], 4, key, temperature=0, return_logits=True)
    assert np.array_equal(np.asarray(a), np.asarray(b)) and close(la, lb)


def test_an_interrupted_layer_layout_run_saves_stacked_and_resumes(tmp_path: Path) -> None:
    p = lm(2)
    params = init(p, jax.random.key(5))
    loss, opt = loss_of(p), optax.sgd(0.05, momentum=0.9)
    path = tmp_path / "run.ckpt"

    def interrupted(step: int) -> Any:
        if step == 3:
            raise KeyboardInterrupt
        return batches(step)

    with pytest.raises(KeyboardInterrupt):
        fit(loss, params, interrupted, optimizer=opt, steps=5, checkpoint=path, unstack=p,
            progress=False)  # fmt: skip
    saved = load_checkpoint(path)
    assert saved["step"] == 3
    shapes = dict(zip(saved["paths"], (a.shape for a in saved["train"]), strict=True))
    assert shapes == {k: v.shape for k, v in params.items()}  # saved stacked
    resumed = fit(loss, params, batches, optimizer=opt, steps=5, checkpoint=path, resume=True,
                  progress=False)  # fmt: skip  (the stacked layout resumes it)
    straight = fit(loss, params, batches, optimizer=opt, steps=5, progress=False)
    assert close(resumed.params, straight.params)
