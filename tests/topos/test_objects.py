"""Objects: values (repr evaluates back, hash agrees with ==), printing, errors."""

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import topos
from topos.objects import (
    DTYPES,
    Coproduct,
    Exp,
    Fin,
    Ob,
    Omega,
    One,
    Product,
    R,
    Zero,
    factors,
)
from topos.testing import objects

NAMESPACE = {name: getattr(topos, name) for name in topos.__all__}


@given(objects(max_depth=3))
def test_repr_evaluates_back(x):
    y = eval(repr(x), NAMESPACE)
    assert y == x and hash(y) == hash(x) and repr(y) == repr(x)


@given(objects(max_depth=3))
def test_str_is_repr_and_pickle_round_trips(x):
    assert str(x) == repr(x)
    assert pickle.loads(pickle.dumps(x)) == x


@given(objects(max_depth=2), objects(max_depth=2))
def test_equality_is_structural_and_hash_agrees(x, y):
    assert (x == y) == (repr(x) == repr(y))
    assert (x != y) == (not x == y)
    if x == y:
        assert hash(x) == hash(y)
    assert x * y == Product(x, y) and x + y == Coproduct(x, y) and y**x == Exp(y, x)
    assert x * y != y * x or x == y
    assert len({x, y, eval(repr(x), NAMESPACE)}) == (1 if x == y else 2)


@given(objects(max_depth=2), objects(max_depth=2), objects(max_depth=2))
def test_binary_constructors_are_not_strict(x, y, z):
    assert x * y * z == (x * y) * z
    assert (x * y) * z != x * (y * z)
    assert (x + y) + z != x + (y + z)
    assert x * One != x and One * x != x and x + Zero != x
    assert factors((x * y) * z) == factors(x * (y * z)) == factors(x) + factors(y) + factors(z)


@given(objects(max_depth=2))
def test_objects_are_immutable(x):
    with pytest.raises(AttributeError, match="is immutable"):
        x.left = One  # type: ignore[misc]


def test_printing_follows_python_precedence():
    A, B, C = R(3), R(4), R(16, 64)
    cases = {
        A * B * C: "R(3) * R(4) * R(16, 64)",
        A * (B * C): "R(3) * (R(4) * R(16, 64))",
        A + B * C: "R(3) + R(4) * R(16, 64)",
        (A + B) * C: "(R(3) + R(4)) * R(16, 64)",
        B**A: "R(4) ** R(3)",
        C ** (B**A): "R(16, 64) ** R(4) ** R(3)",
        (C**B) ** A: "(R(16, 64) ** R(4)) ** R(3)",
        (A * B) ** (A + B): "(R(3) * R(4)) ** (R(3) + R(4))",
        One + One * Omega: "One + One * Omega",
        Fin(65, 16) * Zero: "Fin(65, 16) * Zero",
        R(): "R()",
        R(2, dtype="bfloat16"): "R(2, dtype='bfloat16')",
    }
    for x, text in cases.items():
        assert repr(x) == text and str(x) == text
        assert eval(text, NAMESPACE) == x


def test_generators():
    x = R(16, 64)
    assert (x.shape, x.dtype, x.size) == ((16, 64), "float32", 1024)
    assert R().size == 1 and R().shape == ()
    assert R(3) != R(3, dtype="float64") and hash(R(3)) != hash(R(3, dtype="float64"))
    assert all(R(2, dtype=d).dtype == d for d in DTYPES)
    t = Fin(65, 16)
    assert (t.n, t.shape) == (65, (16,)) and Fin(2).shape == () and Fin(2) != Fin(2, 1)
    assert R(3) != Fin(3) and isinstance(Omega, Ob)


def test_constants_are_singletons():
    assert type(One)() is One and type(Zero)() is Zero and type(Omega)() is Omega
    assert len({One, Zero, Omega}) == 3
    assert pickle.loads(pickle.dumps(Omega)) is Omega


def test_factors():
    A, B, C = R(1), R(2), R(3)
    assert factors(A) == [A]
    assert factors((A * B) * C) == factors(A * (B * C)) == [A, B, C]
    assert factors((A + B) * One) == [A + B, One]


def test_factors_and_hashing_of_a_deep_product_do_not_recurse():
    x = R(1)
    for n in range(2, 5_002):
        x = x * R(n)
    assert len(factors(x)) == 5_001 and hash(x) == hash(x)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: R(-1), TypeError, r"R: shape entries must be non-negative ints, got \(-1,\)"),
        (lambda: R(2.0), TypeError, r"R: shape entries must be non-negative ints, got \(2.0,\)"),
        (lambda: R(True), TypeError, "R: shape entries"),
        (lambda: R(3, dtype="int8"), TypeError, "R: dtype must be one of .* got 'int8'"),
        (lambda: Fin(-2), TypeError, "Fin: the number of labels must be a non-negative int"),
        (lambda: Fin(2, "16"), TypeError, "Fin: shape entries"),
        (lambda: R(2) * 3, TypeError, "Product: expected an object .* got int 3"),
        (lambda: R(2) + "R(3)", TypeError, "Coproduct: expected an object .* got str 'R\\(3\\)'"),
        (lambda: R(2) ** None, TypeError, "Exp: expected an object .* got NoneType None"),
    ],
)
def test_bad_objects_name_what_is_wrong(make, error, message):
    with pytest.raises(error, match=message):
        make()


@given(st.sampled_from(DTYPES), st.lists(st.integers(0, 5), max_size=3))
def test_r_keeps_dtype_and_shape(dtype, shape):
    x = R(*shape, dtype=dtype)
    assert x.shape == tuple(shape) and x.dtype == dtype
    assert eval(repr(x), NAMESPACE) == x


def test_equality_of_shared_objects_is_linear():
    # two objects with 2**60 parts, stored as 60 shared nodes each, built apart
    def tower() -> Ob:
        x: Ob = R(1)
        for _ in range(60):
            x = x * x
        return x

    assert tower() == tower()
    assert tower() != tower() + One


def test_repr_names_large_shared_objects() -> None:
    # Issue 11, item 2: an object with 2**60 leaves in 60 shared nodes printed
    # every leaf. A large object met twice is now named once, and evaluates back.
    x: Ob = R(1)
    for _ in range(60):
        x = x * x
    text = repr(x)
    assert len(text) < 2_000 and text.count(":=") == 56  # 16 leaves and more
    assert text.endswith(", _ob56 * _ob56)[-1]") and eval(text, NAMESPACE) == x
    small = R(1) * R(2) * (R(1) * R(2))  # small repeats print in full, as before
    assert repr(small) == "R(1) * R(2) * (R(1) * R(2))"
