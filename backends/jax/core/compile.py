"""The JAX functor: arrows become per-example Python functions on JAX values.

``JaxCategory`` is a ``topos.functor.Category`` whose objects are the ``topos``
objects themselves (they say how values are represented, see
``backends.jax.core.values``) and whose arrows are ``Fn``: a Python function with its
domain and codomain. ``compile(f)`` applies the functor (boxes through the
registry) and returns a function that checks its input against ``f.dom`` and
runs. Everything structural happens at trace time, in Python: a projection is
tuple indexing, a pairing builds a tuple, ``curry`` builds a closure and ``ev``
calls it. What reaches XLA is exactly the primitives' operations, so the
compiled program is the hand-written one.

It is a functor (checked in the tests within tolerance, here on one input):

>>> import jax.numpy as jnp
>>> from topos import Box, R, Id, pair, fst, curry, ev
>>> from backends.jax.core.registry import register
>>> register("doc.sin", lambda box, x: jnp.sin(x), cls="smooth")
>>> register("doc.neg", lambda box, x: -x, cls="linear")
>>> A = R(2)
>>> f, g = Box("doc.sin", A, A), Box("doc.neg", A, A)
>>> x = jnp.array([0.5, -1.0])
>>> bool((compile(f >> g)(x) == compile(g)(compile(f)(x))).all())
True
>>> bool((compile(pair(f, g) >> fst(A, A))(x) == compile(f)(x)).all())
True
>>> m = fst(A, A) >> f
>>> bool((compile(curry(m) * Id(A) >> ev(A, A))((x, x)) == compile(m)((x, x))).all())
True
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from backends.jax.core import registry
from backends.jax.core.limits import UNROLL_MAX
from backends.jax.core.registry import UnregisteredBox, lookup
from backends.jax.core.values import (
    check,
    dtype_of,
    has_tracer,
    has_unstacked,
    layer,
    run_checked,
    select,
    zeros,
)
from topos.arrows import ArrayData, Arrow, Box, Const, Recur, Stack
from topos.dims import bind, dims, specialise
from topos.functor import FreeObjects, Functor
from topos.normal import deep
from topos.objects import Empty, Exp, Ob, Omega, One, Zero

__all__ = ["CONSTANTS", "Compiled", "Fn", "JaxCategory", "compile", "constant", "interpret"]


class Fn:
    """An arrow of ``JaxCategory``: ``fn`` on per-example values, from ``dom`` to ``cod``.

    >>> from topos import R
    >>> double = Fn(lambda x: 2 * x, R(2), R(2))
    >>> double(3.0), double
    (6.0, Fn(R(2) -> R(2)))
    """

    __slots__ = ("fn", "dom", "cod")

    def __init__(self, fn: Callable[[Any], Any], dom: Ob, cod: Ob) -> None:
        self.fn, self.dom, self.cod = fn, dom, cod

    def __call__(self, x: Any) -> Any:
        return self.fn(x)

    def __repr__(self) -> str:
        return f"Fn({self.dom!r} -> {self.cod!r})"


def _chain(fns: Sequence[Fn]) -> Callable[[Any], Any]:
    def run(x: Any) -> Any:
        for f in fns:  # a loop, not nested closures: 100,000-long chains are fine
            x = f.fn(x)
        return x

    return run


def _FALSE() -> jax.Array:  # noqa: N802 - a constant of the coproduct tag
    return jnp.zeros((), bool)


def _TRUE() -> jax.Array:  # noqa: N802
    return jnp.ones((), bool)


class JaxCategory(FreeObjects[Fn]):
    """Per-example JAX functions; objects are represented as in ``backends.jax.core.values``.

    >>> from topos import R
    >>> C = JaxCategory()
    >>> C.compose([C.copy(R(2)), C.swap(R(2), R(2))])(1.0)
    (1.0, 1.0)
    >>> C.curry(C.fst(R(1), R(2)), R(1), R(2), R(1))("x")("a")
    'x'
    """

    # -- objects: the topos objects themselves describe the representation ----
    # -- category -----------------------------------------------------------------
    def id(self, a: Ob) -> Fn:
        return Fn(lambda x: x, a, a)

    def compose(self, fs: Sequence[Fn]) -> Fn:
        fs = tuple(fs)
        return Fn(_chain(fs), fs[0].dom, fs[-1].cod)

    # -- cartesian ------------------------------------------------------------------
    def pair(self, f: Fn, g: Fn) -> Fn:
        ff, gg = f.fn, g.fn
        return Fn(lambda x: (ff(x), gg(x)), f.dom, f.cod * g.cod)

    def fst(self, a: Ob, b: Ob) -> Fn:
        return Fn(lambda x: x[0], a * b, a)

    def snd(self, a: Ob, b: Ob) -> Fn:
        return Fn(lambda x: x[1], a * b, b)

    def discard(self, a: Ob) -> Fn:
        return Fn(lambda x: (), a, One)

    def tensor(self, f: Fn, g: Fn, a: Ob, b: Ob) -> Fn:
        ff, gg = f.fn, g.fn
        return Fn(lambda x: (ff(x[0]), gg(x[1])), a * b, f.cod * g.cod)

    def copy(self, a: Ob) -> Fn:
        return Fn(lambda x: (x, x), a, a * a)

    def swap(self, a: Ob, b: Ob) -> Fn:
        return Fn(lambda x: (x[1], x[0]), a * b, b * a)

    # -- cocartesian: tagged triples (tag, left, right), tag True = right -----------
    def inl(self, a: Ob, b: Ob) -> Fn:
        return Fn(lambda x: (_FALSE(), x, zeros(b)), a, a + b)

    def inr(self, a: Ob, b: Ob) -> Fn:
        return Fn(lambda x: (_TRUE(), zeros(a), x), b, a + b)

    def absurd(self, a: Ob) -> Fn:
        def never(x: Any) -> Any:
            raise TypeError(f"absurd({a!r}) was applied: Zero has no values")

        return Fn(never, Zero, a)

    def copair(self, f: Fn, g: Fn) -> Fn:
        ff, gg, cod = f.fn, g.fn, f.cod
        if isinstance(f.dom, Empty):  # the left summand is empty: always right
            return Fn(lambda v: gg(v[2]), f.dom + g.dom, cod)
        if isinstance(g.dom, Empty):
            return Fn(lambda v: ff(v[1]), f.dom + g.dom, cod)
        return Fn(lambda v: select(cod, v[0], ff(v[1]), gg(v[2])), f.dom + g.dom, cod)

    def sum(self, f: Fn, g: Fn, c: Ob, d: Ob) -> Fn:
        ff, gg = f.fn, g.fn
        left_empty, right_empty = isinstance(f.dom, Empty), isinstance(g.dom, Empty)

        def run(v: Any) -> Any:
            tag, left, right = v
            out_l = zeros(c) if left_empty else ff(left)
            out_r = zeros(d) if right_empty else gg(right)
            if not (left_empty or right_empty):  # keep the inactive branch at zero
                out_l = select(c, tag, out_l, zeros(c))
                out_r = select(d, tag, zeros(d), out_r)
            return (tag, out_l, out_r)

        return Fn(run, f.dom + g.dom, c + d)

    # -- closed: exponential values are closures, resolved at trace time --------
    def curry(self, m: Fn, x: Ob, a: Ob, b: Ob) -> Fn:
        mm = m.fn
        return Fn(lambda xv: lambda av: mm((xv, av)), x, b**a)

    def ev(self, b: Ob, a: Ob) -> Fn:
        return Fn(lambda v: v[0](v[1]), Exp(b, a) * a, b)

    # -- subobject classifier: boolean scalars --------------------------------------
    def logic(self, op: str) -> Fn:
        fn, dom = _LOGIC[op]
        return Fn(fn, dom, Omega)

    # -- stacks of layers: a scan; constants: arrays ---------------------------------
    def repeat(self, body: Fn, n: int, p: Ob, a: Ob) -> Fn:
        step = body.fn

        def run(x: Any) -> Any:
            if has_unstacked(x[0]):  # the layer layout: each layer's own arrays, unrolled
                carry = x[1]
                for i in range(n):
                    carry = step((layer(x[0], i), carry))
                return carry

            def one(carry: Any, params: Any) -> tuple[Any, None]:
                return step((params, carry)), None

            out, _ = jax.lax.scan(one, x[1], x[0], length=n, unroll=n <= UNROLL_MAX)
            return out

        return Fn(run, body.dom, a)

    def layer(self, p: Ob, n: int, index: int) -> Fn:
        return Fn(lambda x: layer(x, index), p, p)

    # -- folds over a sequence: one lax.scan, the parameters closed over ---------------
    def recur(self, cell: Fn, node: Recur, p: Ob, s: Ob, x: Ob, y: Ob) -> Fn:
        step, reverse = cell.fn, node.reverse
        n = node.n if isinstance(node.n, int) else None  # a Dim: the length of the input

        def run(v: Any) -> Any:
            params, (state, xs) = v

            def one(carry: Any, item: Any) -> tuple[Any, Any]:
                new, out = step((params, (carry, item)))
                return new, out

            length = n if not jax.tree.leaves(xs) else None
            return jax.lax.scan(one, state, xs, length=length, reverse=reverse)

        return Fn(run, node.dom, node.cod)

    def stack(self, x: Ob, n: int) -> Fn:
        def run(v: Any) -> Any:
            items = []
            for _ in range(n - 1):
                items.append(v[1])
                v = v[0]
            items.append(v)
            items.reverse()
            return jax.tree.map(lambda *leaves: jnp.stack(leaves), *items)

        return Fn(run, Stack(x, n).dom, Stack(x, n).cod)

    def const(self, node: Const, cod: Ob) -> Fn:
        value = node.value
        ref = getattr(value, "path", None)  # a frozen parameter of topos.para
        if ref is not None and getattr(value, "value", None) is None:
            return Fn(lambda _: _frozen(ref, cod), One, cod)
        literal = value.value if ref is not None else value
        return Fn(lambda _: _literal(literal, cod, node.name), One, cod)


_LOGIC: dict[str, tuple[Callable[[Any], Any], Ob]] = {
    "true": (lambda _: _TRUE(), One),
    "false": (lambda _: _FALSE(), One),
    "conj": (lambda v: jnp.logical_and(v[0], v[1]), Omega * Omega),
    "disj": (lambda v: jnp.logical_or(v[0], v[1]), Omega * Omega),
    "implies": (lambda v: jnp.logical_or(jnp.logical_not(v[0]), v[1]), Omega * Omega),
    "neg": (lambda v: jnp.logical_not(v), Omega),
}


#: The parameter dict of the ``apply`` in progress: frozen parameters are read from it.
CONSTANTS: ContextVar[Mapping[str, Any] | None] = ContextVar("topos_constants", default=None)


def _frozen(path: str, cod: Ob) -> Any:
    """A frozen parameter without a value: ``params[path]``, with no gradient."""
    values = CONSTANTS.get()
    if values is None or path not in values:
        raise KeyError(
            f"the frozen parameter {path!r} ({cod!r}) has no value: run the Para with"
            f" apply(p, params, x) and params[{path!r}], or freeze it with a value"
        )
    return jax.lax.stop_gradient(values[path])


@functools.lru_cache(maxsize=256)
def _host_array(data: ArrayData) -> np.ndarray:
    return np.frombuffer(data.data, dtype=np.dtype(data.dtype)).reshape(data.shape)


def _literal(value: Any, cod: Ob, name: str) -> Any:
    """A constant's value as an array of ``cod``'s dtype, refused unless of ``cod``'s shape.

    ``Const`` checks literals and arrays when it is built; a frozen parameter's
    value is a reference's payload, checked here, where it becomes an array.
    """
    host = _host_array(value) if isinstance(value, ArrayData) else value
    out = jnp.asarray(host, dtype_of(cod))
    check(cod, out, f"the value of the constant {name!r}")
    return out


def constant(value: Any, name: str = "const", dtype: str = "float32") -> Const:
    """A ``Const`` holding an array by content (``topos.arrows.ArrayData``).

    The array is stored once, as bytes with a digest: building a 1024×64 table is
    a copy, and comparing two constants compares digests. It may sit inside groups
    and repeats (shared by every layer).

    >>> import numpy as np
    >>> from topos import R
    >>> table = constant(np.arange(6.0).reshape(2, 3), name="table")
    >>> table.cod, str(table)
    (R(2, 3), 'table')
    >>> compile(table)(())
    Array([[0., 1., 2.],
           [3., 4., 5.]], dtype=float32)

    Args:
        value: an array (anything ``numpy.asarray`` takes).
        name: how the constant prints and draws.
        dtype: the ``R`` dtype the array is stored as (one of ``topos.objects.DTYPES``).

    Returns:
        ``Const(R(*shape, dtype=...), ArrayData(...), name)``.
    """
    from topos.objects import DTYPES, R

    if dtype not in DTYPES:
        raise TypeError(f"constant: dtype must be one of {DTYPES}, got {dtype!r}")
    arr = np.ascontiguousarray(np.asarray(value).astype(jnp.dtype(dtype)))
    data = ArrayData(arr.shape, dtype, arr.tobytes())
    return Const(R(*arr.shape, dtype=dtype), data, name)


def _box(box: Box) -> Fn:
    if not isinstance(box, Box):  # constants and slices: JaxCategory interprets them
        raise KeyError(box)
    prim = lookup(box)
    fn, cod, name = prim.fn, box.cod, box.name

    def run(x: Any) -> Any:
        try:
            out = fn(box, x)
        except Exception as e:  # name the box, keep the original error and traceback
            e.add_note(f"while computing the box {name!r}: {box.dom!r} -> {cod!r}")
            raise
        check(cod, out, f"output of the box {name!r}")
        return out

    return Fn(run, box.dom, cod)


_FUNCTOR: Functor[Ob, Fn] = Functor(ob=lambda x: x, ar=_box, cod=JaxCategory())


@functools.lru_cache(maxsize=1024)
def interpret(f: Arrow) -> Fn:
    """The image of ``f`` under the JAX functor, unchecked (cached per arrow).

    >>> from topos import R, copy
    >>> interpret(copy(R(2)))
    Fn(R(2) -> R(2) * R(2))
    """
    return _FUNCTOR(f)  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=1024)
def _symbolic(f: Arrow) -> bool:
    return bool(dims(f))


@functools.lru_cache(maxsize=256)
def _at(f: Arrow, binding: tuple[tuple[str, int], ...]) -> Arrow:
    return specialise(f, **dict(binding))  # type: ignore[no-any-return]


def unbound(f: Any) -> str:
    names = ", ".join(repr(d) for d in dims(f))
    return (
        f"the lengths of {names} are not read off the input: give them with"
        " topos.dims.specialise first"
    )


class Compiled:
    """A compiled arrow: call it on a per-example value of ``arrow.dom``.

    The input is checked against the domain first (at trace time under
    ``jax.jit``, so the check costs nothing at run time), and its token ids at
    run time when they are traced (``checked_ids``), unless ``check_ids`` is
    false. For a batch, use ``jax.vmap(compiled)``.

    >>> from topos import R, copy
    >>> compile(copy(R(1))).arrow == copy(R(1))
    True
    """

    __slots__ = ("arrow", "fn", "check_ids", "__name__", "__qualname__", "__weakref__")

    def __init__(self, arrow: Arrow, fn: Fn, check_ids: bool = True) -> None:
        self.arrow, self.fn, self.check_ids = arrow, fn, check_ids
        self.__name__ = self.__qualname__ = "compiled"

    def __call__(self, x: Any) -> Any:
        dom = self.arrow.dom
        if isinstance(dom, Empty):
            raise TypeError(f"{self.arrow}: the domain is Zero, which has no values")
        arrow, run = self.arrow, self.fn.fn
        if _symbolic(arrow):  # dims take the input's lengths; one diagram per binding
            shapes = jax.tree.map(lambda v: tuple(jnp.shape(v)), x)
            arrow = _at(arrow, tuple(sorted(bind(dom, shapes).items())))
            if _symbolic(arrow):
                raise ValueError(unbound(arrow))
            run = deep(lambda: interpret(arrow).fn, arrow)
        check(arrow.dom, x)
        # Running recurses along the nesting of the diagram (a Para of 500 composed layers
        # nests its tensors 500 deep, nested curries their closures): a deep enough stack,
        # on this thread while JAX traces (its state is per thread), as apply does.
        return deep(lambda: self._run(arrow.dom, arrow.cod, run, x), arrow, here=has_tracer(x))

    def _run(self, dom: Ob, cod: Ob, fn: Callable[[Any], Any], x: Any) -> Any:
        return run_checked(dom, x, cod, fn, "input") if self.check_ids else fn(x)

    def __repr__(self) -> str:
        return f"compile({self.arrow!r})"


def compile(  # noqa: A001 - the contract's name
    f: Arrow, optimize: bool | str = False, *, check_ids: bool = True
) -> Compiled:
    """The per-example JAX function of the arrow ``f``; jit, grad and vmap safe.

    Products are tuples, ``One`` is ``()``, ``Fin`` integer arrays, ``Omega``
    booleans, coproducts tagged triples and exponentials Python callables (see
    ``backends.jax.core.values``). The input is checked against ``f.dom``, naming
    the position of any mismatch.

    >>> import jax, jax.numpy as jnp
    >>> from topos import R, pair, fst, snd
    >>> h = compile(pair(snd(R(2), R(3)), fst(R(2), R(3))))
    >>> h((jnp.zeros(2), jnp.ones(3)))
    (Array([1., 1., 1.], dtype=float32), Array([0., 0.], dtype=float32))
    >>> jax.vmap(h)((jnp.zeros((5, 2)), jnp.ones((5, 3))))[0].shape
    (5, 3)
    >>> h((jnp.zeros(2), jnp.ones(4)))
    Traceback (most recent call last):
    ...
    ValueError: input[1]: expected shape (3,) for R(3), got shape (4,)

    ``optimize=True`` (or a cost model's name, ``"flops"`` or ``"bytes"``) first
    rewrites ``f`` into the cheapest equal diagram by declared laws
    (``topos.rewrite.optimize``; needs the ``optimize`` extra, egglog), taking a
    rewrite only where the cost model finds it at least ``RUN_MIN_GAIN`` (2)
    times cheaper; the compiled function's ``.arrow`` is then the optimised diagram.

    Token ids (``Fin(n)``) outside ``0..n-1`` are refused: concrete ones at
    once, traced ones (under ``jax.jit``, ``jax.vmap``) at run time by a test
    the call embeds (``backends.jax.core.values.run_checked``: an error on one
    device, NaN outputs on several); ``check_ids=False`` leaves that test out
    (an id outside then reads another row: JAX indexing wraps negative ids and
    clamps the others).
    """
    if not isinstance(f, Arrow):
        if hasattr(f, "arrow") and hasattr(f, "parameters"):
            raise TypeError(
                "compile: expected an arrow, got a Para; use backends.jax.apply(p, params, x)"
                " or compile(p.arrow)"
            )
        raise TypeError(f"compile: expected an arrow, got {type(f).__name__} {f!r}")
    if optimize:
        from topos.rewrite import RUN_MIN_GAIN  # noqa: PLC0415 - optional extra
        from topos.rewrite import optimize as rewrite  # noqa: PLC0415 - optional extra

        cost = optimize if isinstance(optimize, str) else "flops"
        f = rewrite(f, cost=cost, min_gain=RUN_MIN_GAIN).arrow

    # The functor folds over the arrow without recursion (topos.arrows.fold), but finding
    # the dims and mapping objects recurse along the objects' nesting (a Para's parameter
    # object is a product as deep as the model), so deep diagrams get a deep enough
    # stack, set up once; the work per level is O(1) (benchmarks/large_inputs.py).
    def build() -> Fn | None:
        if _symbolic(f):  # specialised per binding of its dims, when called
            return None
        return interpret(f)

    try:
        fn = deep(build, f)
    except UnregisteredBox as e:  # the message says it all; the functor's frames do not
        raise UnregisteredBox(str(e)) from None
    if fn is None:
        return Compiled(f, Fn(lambda x: x, f.dom, f.cod), check_ids)
    return Compiled(f, fn, check_ids)


# A primitive registered again with another function: cached images hold the old one.
registry.on_replace(interpret.cache_clear)
