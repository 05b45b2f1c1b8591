"""Values: token ids out of range are refused, eagerly and in the checked jit mode."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from backends.jax import apply, compile, init
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


def test_under_jit_ids_are_unchecked_by_default_and_checked_on_request() -> None:
    run = jax.jit(compile(Id(Fin(7))))
    assert int(run(jnp.array(100))) == 100  # the documented default: no runtime cost
    checked = eqx.filter_jit(lambda x: checked_ids(Fin(7), x))
    assert int(checked(jnp.array(6))) == 6
    with pytest.raises(Exception, match="input: a token id of Fin\\(7\\) is outside 0..6"):
        checked(jnp.array(100))
    batched = eqx.filter_jit(jax.vmap(lambda x: checked_ids(Fin(7, 2), x)))
    with pytest.raises(Exception, match="outside 0..6"):
        batched(jnp.array([[0, 1], [2, -1]]))
