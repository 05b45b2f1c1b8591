"""``with_dtype``: a diagram at another precision, by a functor (issue 22, item 5)."""

from __future__ import annotations

import pytest
from hypothesis import given

from topos import Box, Fin, Id, Omega, R, copy, curry, equal, group, pair, with_dtype
from topos.arrows import Const, Layer, Repeat, fold
from topos.nn import linear, tanh
from topos.nn import primitives as P
from topos.nn.rotary import rotary_tables
from topos.nn.zoo import ARCHITECTURES
from topos.objects import Ob
from topos.para import repeat, unroll
from topos.testing import composable

F64 = "float64"


def _reals(f: object) -> set[str]:
    """The dtypes of the real objects the nodes of ``f`` (an arrow or a Para) mention."""
    found: set[str] = set()

    def step(node: object, _kids: object) -> None:
        stack: list[Ob] = [node.dom, node.cod]  # type: ignore[attr-defined]
        while stack:
            x = stack.pop()
            if isinstance(x, R):
                found.add(x.dtype)
            stack += [y for y in x._fields() if isinstance(y, Ob)]

    fold(getattr(f, "arrow", f), step)
    return found


@given(composable(2))
def test_with_dtype_is_a_functor_and_reversible(fs: list) -> None:
    f, g = fs
    assert with_dtype(f >> g, F64) == with_dtype(f, F64) >> with_dtype(g, F64)
    assert with_dtype(f * g, F64) == with_dtype(f, F64) * with_dtype(g, F64)
    assert with_dtype(with_dtype(f, F64), F64) == with_dtype(f, F64)
    if _reals(f) <= {"float32"}:  # back where every real was float32
        assert with_dtype(with_dtype(f, F64), "float32") == f


def test_tables_the_diagram_computes_follow_the_dtype() -> None:
    # Before: a float64 model's rotary tables came from arange, exp, sin and cos at
    # float32 (R's default), so a float64 Llama was off by ~1e-5 from a float64 reference.
    tables = with_dtype(rotary_tables(8, 4), F64)
    assert tables.cod == R(8, 2, dtype=F64) * R(8, 2, dtype=F64)
    assert _reals(tables) == {F64}
    assert with_dtype(P.arange(4), F64) == P.arange(4, dtype=F64)


def test_a_para_is_declared_at_the_dtype_paths_and_initialisers_kept() -> None:
    p = (linear(3, 4) >> tanh(4)).named("a") >> linear(4, 2).named("b").freeze("b.linear.b")
    q = with_dtype(p, F64)
    assert list(q.parameters()) == list(p.parameters())
    for path, param in q.parameters().items():
        assert param.ob == R(*p.parameters()[path].ob.shape, dtype=F64)
        assert param.init == p.parameters()[path].init
    assert q.constants()["b.linear.b"].ob == R(2, dtype=F64)
    assert _reals(q) == {F64} and (q.dom, q.cod) == (R(3, dtype=F64), R(2, dtype=F64))
    stack = with_dtype(repeat(linear(2, 2).named("l"), 3), F64)
    assert isinstance(stack.arrow, Repeat) and stack.parameters()["l.linear.w"].ob == R(
        3, 2, 2, dtype=F64
    )
    assert unroll(stack) == with_dtype(unroll(repeat(linear(2, 2).named("l"), 3)), F64)


def test_global_inputs_fin_and_omega() -> None:
    gcn = ARCHITECTURES["gcn (relu)"](True)
    g64 = with_dtype(gcn, F64)
    assert g64.actegory.E == R(*gcn.actegory.E.shape, dtype=F64)
    assert with_dtype(Fin(5, 3) * Omega, F64) == Fin(5, 3) * Omega
    emb = with_dtype(ARCHITECTURES["transformer"](True), F64)
    assert emb.dom == ARCHITECTURES["transformer"](True).dom  # tokens stay tokens


def test_structure_is_kept() -> None:
    A, B = R(2), R(3)
    body = Box("step", R(2, 2) * A, A, kind="x")
    f = group("g", copy(A) >> Box("m", A * A, B)) >> curry(Box("c", B * A, A))
    f64 = with_dtype(f, F64)
    assert isinstance(f64, type(f)) and str(f64) == str(f)
    assert with_dtype(Repeat(body, 4), F64) == Repeat(with_dtype(body, F64), 4)
    assert with_dtype(Layer(R(2), 3, 1), F64) == Layer(R(2, dtype=F64), 3, 1)
    c = with_dtype(Const(B, (1.0, 2.0, 3.0), "c"), F64)
    assert c.cod == R(3, dtype=F64) and c.value == (1.0, 2.0, 3.0)
    assert with_dtype(body, F64).attrs == {"kind": "x"}
    assert equal(with_dtype(pair(Id(A), Id(A)), F64), copy(R(2, dtype=F64)))


def test_deep_parameter_objects_and_bad_dtypes() -> None:
    x = R(1)
    for _ in range(5_000):
        x = x * R(2)
    assert with_dtype(x, F64).right == R(2, dtype=F64)  # iterative, no recursion limit
    deep = unroll(repeat(linear(2, 2) >> tanh(2), 1_000))
    assert with_dtype(deep, F64).P == with_dtype(deep.P, F64)
    with pytest.raises(TypeError, match="dtype must be one of"):
        with_dtype(R(2), "float128")
    with pytest.raises(TypeError, match="expected an arrow, a Para or an object"):
        with_dtype([R(2)], F64)
