"""Values: token ids out of range are refused, eagerly and under jit, vmap and batched."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from backends.jax import apply, batched, compile, init
from backends.jax.core.values import check, checked_ids
from topos import Fin, Id, R, nn


@pytest.mark.parametrize(("ids", "bad", "index"), [([3, 100], 100, 1), ([-1, 0], -1, 0)])
def test_out_of_range_ids_are_refused_eagerly(ids: list[int], bad: int, index: int) -> None:
    # Fin(7) used to read 100 as 6 and -1 as 6, silently (issue 11, item 7)
    with pytest.raises(ValueError, match=rf"must be in 0\.\.6, got {bad} at index \({index},\)"):
        compile(Id(Fin(7, 2)))(jnp.array(ids))
    with pytest.raises(ValueError, match=r"input\[1\]: token ids of Fin\(7, 2\)"):
        check(R(1) * Fin(7, 2), (jnp.ones(1), np.array(ids, np.int32)))


def test_apply_refuses_out_of_range_tokens() -> None:
    p = nn.transformer(7, 4, 8, 2, 1)
    params = init(p, jax.random.key(0))
    assert apply(p, params, jnp.array([0, 1, 2, 6])).shape == (4, 7)
    with pytest.raises(ValueError, match="token ids of Fin\\(7, 4\\) must be in 0..6, got 7"):
        apply(p, params, jnp.array([0, 1, 2, 7]))


def test_under_jit_ids_are_checked_by_default_and_unchecked_on_request() -> None:
    run = jax.jit(compile(Id(Fin(7))))
    assert int(run(jnp.array(6))) == 6
    with pytest.raises(Exception, match="input: a token id of Fin\\(7\\) is outside 0..6"):
        run(jnp.array(100))  # it used to return 100 (issue 22, item 4)
    unchecked = jax.jit(compile(Id(Fin(7)), check_ids=False))
    assert int(unchecked(jnp.array(100))) == 100  # the documented opt-out
    checked = eqx.filter_jit(lambda x: checked_ids(Fin(7), x))
    assert int(checked(jnp.array(6))) == 6
    with pytest.raises(Exception, match="input: a token id of Fin\\(7\\) is outside 0..6"):
        checked(jnp.array(100))
    batched = eqx.filter_jit(jax.vmap(lambda x: checked_ids(Fin(7, 2), x)))
    with pytest.raises(Exception, match="outside 0..6"):
        batched(jnp.array([[0, 1], [2, -1]]))
    with pytest.raises(ValueError, match=r"got -1 at index \(1, 1\)"):  # concrete: at once
        checked_ids(Fin(7, 2), np.array([[0, 1], [2, -1]]))


LM = nn.transformer(7, 4, 8, 2, 1)
RUNS = {
    "jit(apply)": lambda params, ids: jax.jit(lambda p, x: apply(LM, p, x))(params, ids),
    "vmap(apply)": lambda params, ids: jax.vmap(lambda x: apply(LM, params, x))(ids[None])[0],
    "jit(vmap(apply))": lambda params, ids: jax.jit(jax.vmap(lambda x: apply(LM, params, x)))(
        ids[None]
    )[0],
    "batched": lambda params, ids: batched(LM)(params, ids[None])[0],
    "jit(batched)": lambda params, ids: jax.jit(batched(LM))(params, ids[None])[0],
    "jit(grad(apply))": lambda params, ids: jax.jit(jax.grad(lambda p, x: apply(LM, p, x).sum()))(
        params, ids
    )["head.w"],
    # a training step's shape: the bad id in the second example of the batch
    "jit(grad(batched))": lambda params, ids: jax.jit(
        jax.grad(lambda p, x: batched(LM)(p, x).sum())
    )(params, jnp.stack([jnp.array([1, 2, 3, 6]), ids]))["head.w"],
}


@pytest.mark.parametrize("bad", [100, -1])
@pytest.mark.parametrize("run", sorted(RUNS))
def test_out_of_range_ids_are_refused_under_transformations(run: str, bad: int) -> None:
    # under jit, vmap and batched, ids 100 and -1 gave exactly the logits of id 6 (issue 22, 4)
    params = init(LM, jax.random.key(0))
    good = RUNS[run](params, jnp.array([1, 2, 3, 6]))
    assert bool(jnp.isfinite(good).all())
    with pytest.raises(Exception, match=r"token ids? of Fin\(7, 4\) .*0\.\.6"):
        jax.block_until_ready(RUNS[run](params, jnp.array([1, 2, 3, bad])))


def test_the_check_can_be_left_out_where_ids_are_known_good() -> None:
    params = init(LM, jax.random.key(0))
    ids, six = jnp.array([[1, 2, 3, 100]]), jnp.array([[1, 2, 3, 6]])
    loose = jax.jit(batched(LM, check_ids=False))
    assert bool((loose(params, ids) == loose(params, six)).all())  # read as JAX indexes
    one = jax.jit(lambda p, x: apply(LM, p, x, check_ids=False))
    assert one(params, ids[0]).shape == (4, 7)


def test_batched_tests_the_whole_batch_once_under_jit() -> None:
    # one device: one run-time test of the batch before the vmap, naming the batch
    params = init(LM, jax.random.key(0))
    ids = jnp.array([[1, 2, 3, 6], [0, 7, 1, 2]])
    with pytest.raises(Exception, match=r"input \(the batch\): a token id of Fin\(7, 4\)"):
        jax.block_until_ready(jax.jit(batched(LM))(params, ids))
