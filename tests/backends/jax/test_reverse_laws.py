"""RD.1–RD.7 on the JAX semantics, and a planted bug in a primitive's derivative caught by them."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest
from hypothesis import settings

from backends.jax import compile
from tests.backends.jax.test_reverse_vjp import sample
from topos.arrows import Arrow, Box
from topos.nn import derivatives as D
from topos.nn import primitives as P
from topos.reverse import DERIVATIVES, declare
from topos.testing import LawError, Semantics, check
from topos.testing.reverse import NUMERIC, SYMBOLIC

FAST = settings(max_examples=8, derandomize=True, database=None, deadline=None)


def close(f: Arrow, g: Arrow) -> bool:
    """Both arrows agree at three random points of their domain (float32, relative 1e-5)."""
    for seed in range(3):
        x = sample(f.dom, jax.random.key(seed))
        left, right = jax.jit(compile(f))(x), jax.jit(compile(g))(x)
        for a, b in zip(jax.tree.leaves(left), jax.tree.leaves(right), strict=True):
            scale = max(1.0, float(jnp.max(jnp.abs(a))))
            if not float(jnp.max(jnp.abs(a - b))) <= 1e-5 * scale:
                return False
    return True


NUMERIC_JAX = Semantics(lambda f: f, close, name="JAX (float32, 3 random points)")


def test_symbolic_laws_hold_by_equal() -> None:
    done = check(Semantics.symbolic(), SYMBOLIC, settings=FAST)
    assert done == ["reverse.RD1", "reverse.RD1_zero", "reverse.RD3", "reverse.RD4", "reverse.RD5"]


@pytest.mark.parametrize("law", [law.name for law in NUMERIC])
def test_numeric_laws_hold_on_jax(law: str) -> None:
    (chosen,) = [x for x in NUMERIC if x.name == law]
    assert check(NUMERIC_JAX, [chosen], settings=FAST) == [f"reverse.{law}"]


def _forgot_the_cotangent(box: Box) -> Arrow:
    (x,), _ = D._ctx(box)  # R[tanh](x, g) = 1 - tanh² x: the factor g left out
    return (1.0 - x.apply(P.tanh) * x.apply(P.tanh)).arrow


@pytest.fixture
def planted() -> Any:
    good = DERIVATIVES["tanh"]
    declare("tanh", _forgot_the_cotangent)
    yield
    declare("tanh", good)


def test_a_planted_bug_is_caught_with_a_readable_counterexample(planted: Any) -> None:
    (rd2_zero,) = [x for x in NUMERIC if x.name == "RD2_zero"]
    with pytest.raises(LawError) as caught:
        check(NUMERIC_JAX, [rd2_zero], settings=FAST)
    message = str(caught.value)
    assert "reverse.RD2_zero: ⟨1, 0⟩ R[f] = 0 fails" in message
    assert "group('R[tanh]'" in message  # the counterexample names the primitive
    assert len(message) < 2000


class _Given:
    """A trial whose one draw is a given diagram: a law's sides at that diagram."""

    def __init__(self, f: Arrow) -> None:
        self.f = f

    def draw(self, strategy: Any) -> Arrow:
        return self.f


@pytest.mark.parametrize("law", ["RD2", "RD6", "RD7"])
@pytest.mark.parametrize("which", ["conv", "max_pool"])
def test_the_window_primitives_satisfy_the_higher_laws(law: str, which: str) -> None:
    """RD.2, RD.6 and RD.7 at ``conv`` (its kernel made of the input) and ``max_pool``.

    Their third and fourth reverse derivatives go through ``conv_transpose``/``conv_filter``
    and ``max_pool_select``/``max_pool_scatter``."""
    from topos.objects import R
    from topos.testing.reverse import _windowed

    conv_map, pool_map = _windowed(R(2, 3))
    f = conv_map if which == "conv" else pool_map
    (chosen,) = [x for x in NUMERIC if x.name == law]
    lhs, rhs = chosen.sides(_Given(f))  # type: ignore[arg-type]
    assert close(lhs, rhs), (law, which)
