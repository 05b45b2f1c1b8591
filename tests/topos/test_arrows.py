"""Arrows: values (repr evaluates back, hash agrees with ==), printing, typing errors,
and a chain of 100,000 boxes through every algorithm without recursion."""

import pickle
import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import topos
from topos.arrows import (
    Arrow,
    Box,
    Compose,
    Id,
    Logic,
    Pair,
    Tensor,
    absurd,
    assoc,
    compose,
    conj,
    copair,
    copy,
    curry,
    discard,
    disj,
    ev,
    false,
    fold,
    fst,
    implies,
    inl,
    inr,
    neg,
    pair,
    snd,
    swap,
    true,
    unassoc,
    uncurry,
)
from topos.errors import TypeMismatch
from topos.normal import equal
from topos.objects import Fin, Omega, One, R, Zero
from topos.testing import arrows, composable, objects

NAMESPACE = {name: getattr(topos, name) for name in topos.__all__}
A, B, C, D = R(1), R(2), R(3), R(4)
f, g, h = Box("f", A, B), Box("g", B, C), Box("h", C, D)

# Box attributes that print back: no NaN (nan is not a Python literal).
attrs = st.dictionaries(
    st.sampled_from(["kind", "eps", "axes", "shape"]),
    st.one_of(
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=4),
        st.tuples(st.integers(0, 3), objects(max_depth=1)),
        st.none(),
    ),
    max_size=2,
)


@given(objects(max_depth=1), objects(max_depth=1), st.data())
def test_repr_evaluates_back(a, b, data):
    x = data.draw(arrows(a, b, attrs=attrs))
    y = eval(repr(x), NAMESPACE)
    assert y == x and hash(y) == hash(x) and repr(y) == repr(x) and str(y) == str(x)
    assert (y.dom, y.cod) == (a, b)


@given(objects(max_depth=1), objects(max_depth=1), st.data())
def test_pickle_round_trips(a, b, data):
    x = data.draw(arrows(a, b))
    assert pickle.loads(pickle.dumps(x)) == x


@given(composable(3))
def test_composition_is_associative_on_the_nose(fs):
    p, q, r = fs
    left, right = (p >> q) >> r, p >> (q >> r)
    assert left == right and hash(left) == hash(right) and str(left) == str(right)
    assert compose(p, q, r) == left
    assert Id(p.dom) >> p == p == p >> Id(p.cod)
    assert compose(Id(p.dom), p) == p


@given(objects(max_depth=1), objects(max_depth=1), st.data())
def test_equality_and_hash_agree(a, b, data):
    x, y = data.draw(arrows(a, b)), data.draw(arrows(a, b))
    assert x == x and not x != x
    assert (x == y) == (y == x) == (not x != y)
    if x == y:
        assert hash(x) == hash(y) and repr(x) == repr(y)
    else:
        assert repr(x) != repr(y)
    assert x != a and (x == "x") is False


@given(objects(max_depth=1), objects(max_depth=1), st.data())
def test_arrows_are_immutable(a, b, data):
    x = data.draw(arrows(a, b))
    with pytest.raises(AttributeError, match="is immutable"):
        x.dom = a  # type: ignore[misc]


def test_types_of_the_constructors():
    m = Box("m", A * B, C)
    cases = [
        (f >> g, A, C),
        (f * g, A * B, B * C),
        (f + g, A + B, B + C),
        (pair(f, Box("k", A, C)), A, B * C),
        (copair(f, Box("k", C, B)), A + C, B),
        (fst(A, B), A * B, A),
        (snd(A, B), A * B, B),
        (copy(A), A, A * A),
        (discard(A), A, One),
        (swap(A, B), A * B, B * A),
        (inl(A, B), A, A + B),
        (inr(A, B), B, A + B),
        (absurd(A), Zero, A),
        (curry(m), A, C**B),
        (uncurry(curry(m)), A * B, C),
        (ev(C, B), C**B * B, C),
        (Id(A), A, A),
        (assoc(A, B, C), (A * B) * C, A * (B * C)),
        (unassoc(A, B, C), A * (B * C), (A * B) * C),
        (true, One, Omega),
        (false, One, Omega),
        (conj, Omega * Omega, Omega),
        (disj, Omega * Omega, Omega),
        (implies, Omega * Omega, Omega),
        (neg, Omega, Omega),
    ]
    for x, dom, cod in cases:
        assert (x.dom, x.cod) == (dom, cod), str(x)
    assert equal(assoc(A, B, C) >> unassoc(A, B, C), Id((A * B) * C))


def test_str_reads_like_a_blackboard():
    m = Box("m", A * B, C)
    cases = [
        (f >> g, "f >> g"),
        (f * g, "f * g"),
        (f + g, "f + g"),
        ((f >> g) * f, "(f >> g) * f"),
        (f * (g * f), "f * (g * f)"),
        ((f * g) * f, "f * g * f"),
        (f + (g + f), "f + (g + f)"),
        ((f + g) * h, "(f + g) * h"),
        (f * g + h, "f * g + h"),
        (pair(f, f) >> g * g, "⟨f, f⟩ >> g * g"),
        (copair(f, f), "[f, f]"),
        (curry(m), "Λ(m)"),
        (uncurry(curry(m)), "Λ(m) * id >> ev"),
        (fst(A, B), "π₁"),
        (snd(A, B), "π₂"),
        (copy(A), "Δ"),
        (discard(A), "!"),
        (swap(A, B), "σ"),
        (inl(A, B), "ι₁"),
        (inr(A, B), "ι₂"),
        (absurd(A), "¡"),
        (Id(A), "id"),
        (pair(true, false) >> conj, "⟨⊤, ⊥⟩ >> ∧"),
        (pair(neg, neg) >> disj, "⟨¬, ¬⟩ >> ∨"),
        (implies, "⇒"),
    ]
    for x, text in cases:
        assert str(x) == text


def test_repr_of_each_constructor():
    assert repr(f) == "Box('f', R(1), R(2))"
    assert repr(Box("f", A, B, kind="linear", axes=(0, 1))) == (
        "Box('f', R(1), R(2), axes=(0, 1), kind='linear')"
    )
    assert repr(f >> g) == "Box('f', R(1), R(2)) >> Box('g', R(2), R(3))"
    assert repr(pair(f, f)) == "pair(Box('f', R(1), R(2)), Box('f', R(1), R(2)))"
    assert repr(fst(A, B)) == "fst(R(1), R(2))" and repr(Id(A)) == "Id(R(1))"
    assert repr(curry(Box("m", A * B, C))) == "curry(Box('m', R(1) * R(2), R(3)))"
    assert [repr(x) for x in (true, false, conj, disj, implies, neg)] == [
        "true", "false", "conj", "disj", "implies", "neg",
    ]  # fmt: skip


def test_box_attributes_are_compared_by_type_and_value():
    # 1, True and 1.0 print differently, so they are different boxes (issue 11, item 8)
    ones = [Box("f", A, B, k=v) for v in (1, True, 1.0)]
    assert len(set(ones)) == 3 and len({repr(b) for b in ones}) == 3
    assert Box("f", A, B, k=0.0) != Box("f", A, B, k=-0.0)
    assert Box("f", A, B, k=(1, 2)) != Box("f", A, B, k=(1, 2.0))
    assert Box("f", A, B, k=(1, (A, 2.5))) == Box("f", A, B, k=(1, (A, 2.5)))
    nan = Box("f", A, B, k=float("nan"))
    other = Box("f", A, B, k=float("nan"))
    assert nan == other and hash(nan) == hash(other) and nan != Box("f", A, B, k=1.0)


def test_box_attributes_take_part_in_equality():
    plain, linear = Box("f", A, B), Box("f", A, B, kind="linear")
    assert plain != linear and linear == Box("f", A, B, kind="linear")
    assert hash(linear) == hash(Box("f", A, B, kind="linear"))
    assert Box("f", A, B, a=1, b=2) == Box("f", A, B, b=2, a=1)
    assert linear.attrs == {"kind": "linear"}
    linear.attrs["kind"] = "changed"  # a fresh dict each time
    assert linear.attrs == {"kind": "linear"}
    body = f >> g
    assert Box("repeat", A, A, body=body).attrs["body"] == body


# -- typing errors: TypeMismatch (a TypeError) naming the operation and both types --------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: f >> f, r"^f >> f: codomain R\(2\) does not match domain R\(1\)$"),
        (lambda: compose(f, g, f), r"^f >> g >> f: codomain R\(3\) does not match domain R\(1\)$"),
        (lambda: Compose(g, f), r"^g >> f: codomain R\(3\) does not match domain R\(1\)$"),
        (
            lambda: pair(f, g),
            r"^pair\(f, g\): domain R\(1\) of the first does not match domain R\(2\) of the",
        ),
        (
            lambda: copair(f, g),
            r"^copair\(f, g\): codomain R\(2\) of the first does not match codomain R\(3\) of",
        ),
        (
            lambda: curry(f),
            r"^curry\(f\): expected an arrow out of a product X \* A, got R\(1\)$",
        ),
        (
            lambda: uncurry(f),
            r"^uncurry\(f\): expected an arrow into an exponential B \*\* A, got R\(2\)$",
        ),
        (
            lambda: f >> Box("k" * 100, B * B, C),
            r"^f >> k+…: codomain R\(2\) does not match domain R\(2\) \* R\(2\)$",
        ),
    ],
)
def test_type_mismatch_names_the_operation_and_both_types(make, message):
    with pytest.raises(TypeMismatch, match=message) as info:
        make()
    assert isinstance(info.value, TypeError)


@given(composable(2), objects(max_depth=1))
def test_every_composite_of_wrong_type_is_rejected(fs, x):
    p, q = fs
    k = Box("k", x, x)
    if p.cod != x:
        expected = f"codomain {p.cod!r} does not match domain {x!r}"
        with pytest.raises(TypeMismatch, match=re.escape(expected)):
            p >> k
    if q.dom != p.dom:
        expected = f"domain {p.dom!r} of the first does not match domain {q.dom!r} of the second"
        with pytest.raises(TypeMismatch, match=re.escape(expected)):
            pair(p, q)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: f * 3, TypeError, r"^\*: expected an arrow, got int 3$"),
        (lambda: f + "g", TypeError, r"^\+: expected an arrow, got str 'g'$"),
        (lambda: f >> 3, TypeError, r"^>>: expected an arrow, got int 3$"),
        (lambda: compose(), TypeError, "^compose: needs at least one arrow$"),
        (lambda: pair(f, None), TypeError, "^pair: expected an arrow, got NoneType None$"),
        (lambda: curry(A), TypeError, r"^curry: expected an arrow, got R R\(1\)$"),
        (lambda: Box("", A, B), TypeError, "^Box: name must be a non-empty string, got ''$"),
        (lambda: Box("f", A, 3), TypeError, r"^Box 'f': expected an object .*, got int 3$"),
        (lambda: Box("f", A, B, w=[1]), TypeError, r"attribute w=\[1\] is not hashable"),
        (lambda: Logic("xor"), ValueError, "^Logic: unknown connective 'xor', expected one of"),
        (lambda: fst(A, 3), TypeError, r"^fst: expected an object .*, got int 3$"),
        (lambda: Id("A"), TypeError, r"^Id: expected an object .*, got str 'A'$"),
    ],
)
def test_bad_arguments_name_what_is_wrong(make, error, message):
    with pytest.raises(error, match=message):
        make()


# -- fold ---------------------------------------------------------------------------


def test_fold_visits_shared_sub_arrows_once():
    visits: list[str] = []
    shared = f >> g
    top = pair(shared, shared) >> fst(C, C)

    def count(node: Arrow, kids: list[int]) -> int:
        visits.append(type(node).__name__)
        return 1 + sum(kids)

    fold(top, count)
    assert visits.count("Box") == 2 and visits.count("Pair") == 1
    assert fold(Id(A), count) == 1


def test_fold_sees_a_chain_as_one_node():
    chain = f >> g >> h
    assert fold(chain, lambda node, kids: len(kids) if isinstance(node, Compose) else 0) == 3
    assert chain.children == (f, g, h) and Pair(f, f).children == (f, f)
    assert isinstance(f * f, Tensor)


# -- a chain of 100,000 boxes -------------------------------------------------------

N = 100_000


@pytest.fixture(scope="module")
def chains() -> tuple[Arrow, Arrow, list[Box]]:
    X = Fin(7, 2)
    boxes = [Box(f"f{i}", X, X) for i in range(N)]
    left = boxes[0]
    for b in boxes[1:]:  # one >> at a time, from the left
        left = left >> b
    right = boxes[-1]
    for b in reversed(boxes[:-1]):  # and from the right
        right = b >> right
    return left, right, boxes


def test_long_chain_compares_and_hashes(chains):
    left, right, boxes = chains
    limit = sys.getrecursionlimit()
    assert left == right and hash(left) == hash(right)
    assert left != right >> boxes[0] and left != compose(*boxes[:-1], boxes[0])
    assert len(left.children) == N and left.children[-1] is boxes[-1]
    assert sys.getrecursionlimit() == limit


def test_long_chain_prints(chains):
    left, _, boxes = chains
    text = str(left)
    assert text.startswith("f0 >> f1 >> ") and text.endswith(f" >> f{N - 1}")
    assert text.count(" >> ") == N - 1
    code = repr(left)
    assert code.count("Box(") == N and code.startswith("Box('f0', Fin(7, 2), Fin(7, 2)) >> ")


def test_long_chain_folds_and_nests(chains):
    left, right, boxes = chains
    assert fold(left, lambda node, kids: 1 + sum(kids)) == N + 1
    wrapped = pair(left, right) >> swap(left.cod, right.cod) >> fst(right.cod, left.cod)
    calls: list[Arrow] = []
    fold(wrapped, lambda node, kids: calls.append(node))
    # each box once (shared by both chains), two chains, pair, swap, fst, the outer chain
    assert len(calls) == N + 6
    assert curry(snd(One, left.dom) >> left).cod == left.cod**left.dom


def test_equality_of_shared_arrows_is_linear():
    # ⟨t, t⟩ >> j sixty times: 2**60 boxes in the tree, 60 nodes in memory, built apart
    def tower() -> Arrow:
        t: Arrow = Box("b", A, A)
        for _ in range(60):
            t = Pair(t, t) >> Box("j", A * A, A)
        return t

    assert tower() == tower() and hash(tower()) == hash(tower())


def test_deep_nesting_prints_in_linear_time_and_memory():
    x = A
    for _ in range(10_000):
        x = x * A
    f: Arrow = Box("m", x, A)
    for _ in range(10_000):
        f = curry(f)
    text = str(f)
    assert text == "Λ(" * 10_000 + "m" + ")" * 10_000
    assert repr(f).startswith("curry(curry(") and repr(f).endswith("R(1), R(1)))" + ")" * 9_999)
    assert len(repr(x)) == len("R(1)") * 10_001 + len(" * ") * 10_000


def test_type_mismatch_messages_are_bounded_summaries():
    # a message about huge arrows and objects renders only a prefix of each
    x = A
    for _ in range(60):
        x = x * x  # 2**60 parts: printing it whole would never finish
    big: Arrow = Box("h", x, x)
    for _ in range(60):
        big = Pair(big, big) >> Box("j", x * x, x)
    with pytest.raises(TypeMismatch) as info:
        big >> Box("k", A, A)
    assert len(str(info.value)) < 600 and "…" in str(info.value)
    with pytest.raises(TypeMismatch) as info:
        pair(big, Box("k", A, A))
    assert len(str(info.value)) < 600


def test_repr_of_deep_parameter_objects_is_linear() -> None:
    # Issue 11, item 3: each projection of a deep product printed the whole product,
    # so n projections printed O(n²) characters. Large objects met twice are named.
    from topos.arrows import compose

    n = 300
    obs = [A]
    for _ in range(n):
        obs.append(obs[-1] * A)
    x = compose(*[fst(obs[k], A) for k in reversed(range(n))])
    text = repr(x)
    assert len(text) < 60 * n, len(text)  # was about 4 n² characters
    y = eval(text, NAMESPACE)
    assert y == x and repr(y) == text
    assert repr(fst(A, B) >> f) == "fst(R(1), R(2)) >> Box('f', R(1), R(2))"


# -- constants: value identity and type (issue 22, item 2) --------------------------------


def test_a_constant_is_identified_by_the_bits_of_its_value():
    from topos.arrows import Const

    plus, minus = Const(R(), 0.0), Const(R(), -0.0)
    assert plus != minus and not equal(plus, minus)  # 1 / x tells them apart
    nan = Const(R(), float("nan"))
    assert nan == Const(R(), float("nan")) and hash(nan) == hash(Const(R(), float("nan")))
    assert equal(nan, Const(R(), float("nan")))
    assert Const(R(2), (0.0, -0.0)) != Const(R(2), (0.0, 0.0))
    assert Const(R(), 1) != Const(R(), 1.0)  # the literal's type still counts


@pytest.mark.parametrize(
    "cod, value, message",
    [
        (R(3), (1.0, 2.0), r"the value \(1.0, 2.0\) does not fit the object R\(3\): shape \(2,\)"),
        (R(), (1.0,), r"R\(\): shape \(1,\), the object's shape is \(\)"),
        (R(2, 2), ((1.0, 2.0), (3.0,)), r"ragged"),
        (R(2), (1.0, True), r"True is not a real number"),
        (R(), 1j, r"1j is not a real number"),
        (Fin(3, 2), (0, 3), r"3 is not a label in \{0, ..., 2\}"),
        (Fin(3), 1.0, r"1.0 is not a label"),
        (Omega, 1, r"1 is not a truth value"),
        (R(2) * R(2), ((1.0, 2.0), (3.0, 4.0)), r"a literal needs R, Fin or Omega"),
    ],
)
def test_a_constant_value_must_fit_its_object(cod, value, message):
    from topos.arrows import Const

    with pytest.raises(TypeMismatch, match=message):
        Const(cod, value)


def test_array_constants_must_fit_their_object():
    from topos.arrows import ArrayData, Const

    table = ArrayData((2, 3), "float32", bytes(24))
    assert Const(R(2, 3), table).value is table
    with pytest.raises(TypeMismatch, match=r"shape \(2, 3\), the object's shape is \(3, 2\)"):
        Const(R(3, 2), table)
    labels = ArrayData((2,), "int32", (1).to_bytes(4, sys.byteorder) * 2)
    assert Const(Fin(2, 2), labels).value is labels
    with pytest.raises(TypeMismatch, match="int32 entries, the object holds float32"):
        Const(R(2), labels)
    with pytest.raises(TypeMismatch, match=r"the label 1 is not in \{0, ..., 0\}"):
        Const(Fin(1, 2), labels)
    with pytest.raises(TypeMismatch, match="float32 entries, the object holds labels"):
        Const(Fin(2, 2, 3), table)


@pytest.mark.parametrize(
    "shape, dtype, size, message",
    [
        ((10**12,), "float64", 8, r"shape \(1000000000000,\) of float64 takes 8000000000000 bytes"),
        ((2,), "float99", 8, "dtype must be one of"),
        ((2,), "object", 16, "dtype must be one of"),
        ((3,), "float32", 8, r"takes 12 bytes, got 8"),
    ],
)
def test_array_data_is_checked_when_built(shape, dtype, size, message):
    from topos.arrows import ArrayData

    with pytest.raises((TypeError, ValueError), match=message):
        ArrayData(shape, dtype, bytes(size))
