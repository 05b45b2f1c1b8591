"""Constants in the JAX backend: told apart by their bits, and of their object's shape."""

from __future__ import annotations

import numpy as np
import pytest

from backends.jax import compile
from topos import R, pair
from topos.arrows import Const
from topos.errors import TypeMismatch
from topos.nn import primitives as P
from topos.para import Frozen, normal


def test_signed_zero_constants_compile_to_their_own_programs() -> None:
    # Issue 22, item 2: 0.0 == -0.0, so the compile cache ran one's program for the other.
    plus, minus, one = Const(R(), 0.0), Const(R(), -0.0), Const(R(), 1.0)
    reciprocal = P.div(R(), R())
    assert float(compile(pair(one, plus) >> reciprocal)(())) == np.inf
    assert float(compile(pair(one, minus) >> reciprocal)(())) == -np.inf  # was inf
    assert not np.signbit(compile(plus)(())) and np.signbit(compile(minus)(()))
    assert np.isnan(compile(Const(R(), float("nan")))(()))


def test_a_constant_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(TypeMismatch, match=r"does not fit the object R\(3\): shape \(2,\)"):
        compile(Const(R(3), (1.0, 2.0)))
    frozen = Const(R(3), Frozen("w", normal(0.1), value=(1.0, 2.0)), "w")  # a payload: read late
    with pytest.raises(ValueError, match=r"constant 'w': expected shape \(3,\) for R\(3\)"):
        compile(frozen)(())
    ok = Const(R(2), Frozen("w", normal(0.1), value=(1.0, 2.0)), "w")
    np.testing.assert_array_equal(compile(ok)(()), [1.0, 2.0])
