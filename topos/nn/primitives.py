"""The primitive boxes of the neural vocabulary, each with its class of maps.

Every primitive is a ``Box`` whose name says what it computes and whose ``cls``
attribute places it in the chain of classes ``linear ⊂ pl ⊂ polynomial ⊂ smooth``
(the analysis joins these over a diagram). Semantics are **per example** and
stated once, in the docstring of the function that builds the box; a backend
implements each name once (``backends/jax/core/primitives.py``). Layers in
``topos.nn`` are *built* from these boxes with the categorical structure.

A bilinear primitive (``einsum``, ``mul``, ``conv``) has ``cls="bilinear"``: a
map ``X * Y -> Z`` linear in each factor separately, so it is linear as a map of
one factor whenever the other does not depend on the input (a parameter or a
constant), and polynomial of degree 2 when both do (``topos.analysis`` resolves
it per use). Its backend registration declares the worst case, ``polynomial``.

>>> from topos import R, copy
>>> x = R(4, 3)
>>> print(einsum("si,io->so", x, R(3, 5)))
einsum
>>> einsum("si,io->so", x, R(3, 5)).cod, einsum("si,io->so", x, R(3, 5)).attrs["cls"]
(R(4, 5), 'bilinear')
>>> square = copy(x) >> mul(x, x)          # x ⊙ x: both operands input-dependent
>>> [b.attrs["cls"] for b in (relu(x), gelu(x), reduce_max(x, -1), reduce_mean(x, -1))]
['pl', 'smooth', 'pl', 'linear']
>>> CLASSES == ("linear", "pl", "polynomial", "smooth")
True

Shapes are checked when a box is built, with the operation and both shapes named:

>>> add(R(4, 3), R(5))
Traceback (most recent call last):
...
topos.errors.TypeMismatch: add: shapes (4, 3) and (5,) do not broadcast
"""

from __future__ import annotations

import string
from typing import Any

from topos.analysis import CLASSES
from topos.arrows import Box
from topos.errors import TypeMismatch, expected
from topos.objects import Dim, Fin, Ob, One, R

__all__ = [
    "CLASSES",
    "FOREIGN_CLASSES",
    "PRIMITIVES",
    "COMPARISONS",
    "add",
    "arange",
    "bernoulli",
    "broadcast",
    "causal_mask",
    "concat",
    "full",
    "compare",
    "conv",
    "conv_filter",
    "conv_transpose",
    "dispatch",
    "cos",
    "div",
    "einsum",
    "erf",
    "exp",
    "fold_in",
    "foreign",
    "gather",
    "gelu",
    "linear_scan",
    "log",
    "matmul",
    "max_pool",
    "max_pool_scatter",
    "max_pool_select",
    "mul",
    "one_hot",
    "reduce_max",
    "reduce_mean",
    "reduce_sum",
    "relu",
    "relative_buckets",
    "reshape",
    "rsqrt",
    "scale",
    "scatter_add",
    "sigmoid",
    "silu",
    "sin",
    "slice_axis",
    "softmax",
    "softmax_fold",
    "sqrt",
    "sub",
    "take",
    "tanh",
    "top_k",
    "transpose",
    "where",
]


#: Every primitive box name and its class; ``bilinear`` is linear in each factor.
#: ``causal_mask`` is linear when it fills with 0 and pl otherwise (its box says which).
PRIMITIVES: dict[str, str] = {
    "einsum": "bilinear",
    "mul": "bilinear",
    "conv": "bilinear",
    "conv_transpose": "bilinear",
    "conv_filter": "bilinear",
    "linear_scan": "bilinear",
    "add": "linear",
    "sub": "linear",
    "scale": "linear",
    "full": "linear",
    "reshape": "linear",
    "transpose": "linear",
    "broadcast": "linear",
    "concat": "linear",
    "take": "linear",
    "gather": "linear",
    "one_hot": "linear",
    "reduce_sum": "linear",
    "reduce_mean": "linear",
    "causal_mask": "pl",
    "relu": "pl",
    "reduce_max": "pl",
    "max_pool": "pl",
    "max_pool_scatter": "pl",
    "max_pool_select": "pl",
    "div": "smooth",
    "exp": "smooth",
    "tanh": "smooth",
    "gelu": "smooth",
    "rsqrt": "smooth",
    "softmax": "smooth",
    "arange": "linear",
    "slice": "linear",
    "bernoulli": "linear",
    "fold_in": "linear",
    "compare": "pl",
    "where": "pl",
    "sigmoid": "smooth",
    "silu": "smooth",
    "sin": "smooth",
    "cos": "smooth",
    "log": "smooth",
    "sqrt": "smooth",
    "erf": "smooth",
    "top_k": "pl",
    "dispatch": "linear",
    "scatter_add": "linear",
    "relative_buckets": "linear",
    "foreign": "smooth",
    "softmax_fold": "smooth",
}


def _real(op: str, x: object) -> R:
    if not isinstance(x, R):
        raise expected(op, "a real array object R(...)", x)
    return x


def _axis(op: str, x: R, axis: int) -> int:
    n = len(x.shape)
    if isinstance(axis, bool) or not isinstance(axis, int) or not -n <= axis < n:
        raise TypeMismatch(f"{op}: axis {axis!r} is out of range for {x!r}")
    return axis % n


def _same_dtype(op: str, a: R, b: R) -> str:
    if a.dtype != b.dtype:
        raise TypeMismatch(f"{op}: dtypes differ: {a!r} and {b!r}")
    return a.dtype


def _broadcast_shape(op: str, s: tuple[int, ...], t: tuple[int, ...]) -> tuple[int, ...]:
    out: list[int] = []
    for k in range(1, max(len(s), len(t)) + 1):
        m = s[-k] if k <= len(s) else 1
        n = t[-k] if k <= len(t) else 1
        if m != n and 1 not in (m, n):
            raise TypeMismatch(f"{op}: shapes {s} and {t} do not broadcast")
        out.append(n if m == 1 else m)
    return tuple(reversed(out))


def _box(name: str, dom: Ob, cod: Ob, **attrs: Any) -> Box:
    attrs.setdefault("cls", PRIMITIVES[name])
    return Box(name, dom, cod, **attrs)


# -- bilinear -----------------------------------------------------------------------


def einsum(spec: str, a: Ob, b: Ob) -> Box:
    """The contraction ``einsum(spec, x, y): a * b -> c`` of two arrays (bilinear).

    ``spec`` is ``"ij,jk->ik"``-style with one letter per axis; letters of the
    output are kept, the others summed over. Matrix products, batched matrix
    products and outer products are all this one primitive. An ellipsis ``...``
    stands for the remaining axes of an operand, NumPy style: the ellipsis axes of
    the two operands broadcast, and the output must place them (``...`` in the
    output) whenever an operand has them.

    >>> einsum("hsd,htd->hst", R(2, 4, 8), R(2, 4, 8)).cod
    R(2, 4, 4)
    >>> einsum("...i,io->...o", R(2, 7, 3), R(3, 5)).cod
    R(2, 7, 5)
    >>> einsum("ij,jk->ik", R(2, 3), R(4, 5))
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: einsum 'ij,jk->ik': axis j has size 3 in R(2, 3) and 4 in R(4, 5)
    """
    x, y = _real("einsum", a), _real("einsum", b)
    op = f"einsum {spec!r}"
    try:
        ins, out = spec.replace(" ", "").split("->")
        sa, sb = ins.split(",")
    except ValueError:
        raise TypeMismatch(f"{op}: expected a spec 'ab,bc->ac' with two operands") from None
    sizes: dict[str, tuple[int, R]] = {}
    rest: tuple[int, ...] = ()
    for letters, ob in ((sa, x), (sb, y)):
        named, ell = _split_ellipsis(op, letters, ob)
        rest = _broadcast_shape(op, rest, ell)
        for c, n in named:
            if c not in string.ascii_letters:
                raise TypeMismatch(f"{op}: axis names must be letters, got {c!r}")
            if c in sizes and sizes[c][0] != n:
                raise TypeMismatch(
                    f"{op}: axis {c} has size {sizes[c][0]} in {sizes[c][1]!r} and {n} in {ob!r}"
                )
            sizes[c] = (n, ob)
    has_ell = "..." in sa or "..." in sb
    plain = out.replace("...", "", 1) if "..." in out else out
    if (
        len(set(plain)) != len(plain)
        or any(c not in sizes for c in plain)
        or (has_ell and "..." not in out)
    ):
        raise TypeMismatch(f"{op}: output {out!r} must name distinct axes of the operands")
    head, _, tail = out.partition("...")
    shape = (*(sizes[c][0] for c in head), *(rest if "..." in out else ()))
    cod = R(*shape, *(sizes[c][0] for c in tail), dtype=_same_dtype(op, x, y))
    return _box("einsum", x * y, cod, spec=f"{sa},{sb}->{out}")


def _split_ellipsis(op: str, letters: str, ob: R) -> tuple[list[tuple[str, int]], tuple[int, ...]]:
    """The named axes of an operand (letter, size) and the shape its ``...`` stands for."""
    head, dots, tail = letters.partition("...")
    named = head + tail
    extra = len(ob.shape) - len(named)
    if len(set(named)) != len(named) or "." in named or extra < 0 or (not dots and extra != 0):
        raise TypeMismatch(f"{op}: {letters!r} does not index the axes of {ob!r}")
    shape = ob.shape
    pairs = list(zip(head, shape[: len(head)], strict=True))
    pairs += list(zip(tail, shape[len(head) + extra :], strict=True))
    return pairs, tuple(shape[len(head) : len(head) + extra])


def matmul(a: Ob, b: Ob) -> Box:
    """The matrix product ``x @ w`` of ``a = R(..., k)`` by ``b = R(k, n)``: an ``einsum``.

    >>> matmul(R(4, 3), R(3, 5)).attrs["spec"], matmul(R(4, 3), R(3, 5)).cod
    ('Ai,io->Ao', R(4, 5))
    """
    x, w = _real("matmul", a), _real("matmul", b)
    if len(x.shape) < 1 or len(w.shape) != 2:
        raise TypeMismatch(f"matmul: expected R(..., k) and R(k, n), got {x!r} and {w!r}")
    lead = string.ascii_uppercase[: len(x.shape) - 1]  # never clashes with i, o
    return einsum(f"{lead}i,io->{lead}o", x, w)


def mul(a: Ob, b: Ob) -> Box:
    """The elementwise product ``x ⊙ y`` with NumPy broadcasting (bilinear).

    >>> mul(R(4, 3), R(3)).cod
    R(4, 3)
    """
    x, y = _real("mul", a), _real("mul", b)
    cod = R(*_broadcast_shape("mul", x.shape, y.shape), dtype=_same_dtype("mul", x, y))
    return _box("mul", x * y, cod)


def linear_scan(a: Ob, b: Ob) -> Box:
    """``h_t = a_t ⊙ h_{t-1} + b_t`` along axis 0 from ``h_{-1} = 0``: every ``h_t``.

    The parallel form of a diagonal linear recurrence: ``h_t`` is the fold of the
    monoid of affine maps ``(a, b) · (a', b') = (a a', a' b + b')`` (unit ``(1, 0)``)
    over the first ``t + 1`` steps, so a backend may bracket the fold as it likes —
    a balanced tree (depth ``log n``) or chunks (the JAX backend's
    ``backends.jax.core.scan``: the prefixes within chunks of 8, a short scan across).
    Bilinear: linear in ``b`` for fixed ``a``; with ``a`` chosen by the input it is
    an input-chosen (lower-triangular) linear map on sequences. ``a`` and ``b``
    have one shape ``R(n, ...)``.

    >>> linear_scan(R(8, 4), R(8, 4)).cod
    R(8, 4)
    >>> linear_scan(R(8, 4), R(8, 3))
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: linear_scan: expected the coefficients' shape (8, 4), got R(8, 3)
    """
    x, y = _real("linear_scan", a), _real("linear_scan", b)
    if x.shape != y.shape or not x.shape:
        raise expected("linear_scan", f"the coefficients' shape {x.shape}", y)
    return _box("linear_scan", x * y, R(*x.shape, dtype=_same_dtype("linear_scan", x, y)))


def conv(a: Ob, b: Ob, stride: tuple[int, ...] | None = None, padding: str = "SAME") -> Box:
    """Cross-correlation of ``x: R(*spatial, c_in)`` with ``w: R(*window, c_in, c_out)`` (bilinear).

    ``out[p, o] = sum_{q, i} x[p * stride + q - pad, i] * w[q, i, o]`` over the window
    ``q``, channels last, 1-D or 2-D; ``padding`` is ``"SAME"`` or ``"VALID"``.

    >>> conv(R(8, 8, 1), R(3, 3, 1, 4)).cod, conv(R(10, 2), R(3, 2, 5), padding="VALID").cod
    (R(8, 8, 4), R(8, 5))
    """
    x, w = _real("conv", a), _real("conv", b)
    nd = len(x.shape) - 1
    if nd not in (1, 2) or len(w.shape) != nd + 2 or w.shape[nd] != x.shape[-1]:
        raise TypeMismatch(
            f"conv: expected x = R(*spatial, c_in) with 1 or 2 spatial axes and"
            f" w = R(*window, c_in, c_out), got {x!r} and {w!r}"
        )
    steps = tuple(stride) if stride is not None else (1,) * nd
    if padding not in ("SAME", "VALID") or len(steps) != nd:
        raise TypeMismatch(f"conv: padding must be 'SAME' or 'VALID' and stride {nd} ints")
    out = _window_out("conv", x.shape[:nd], w.shape[:nd], steps, padding)
    cod = R(*out, w.shape[-1], dtype=_same_dtype("conv", x, w))
    return _box("conv", x * w, cod, stride=steps, padding=padding)


def _conv_check(op: str, size: tuple[int, ...], window: tuple[int, ...], out: tuple[int, ...],
                stride: tuple[int, ...], padding: str) -> None:
    nd = len(size)
    if padding not in ("SAME", "VALID") or len(stride) != nd or len(window) != nd:
        raise TypeMismatch(f"{op}: padding must be 'SAME' or 'VALID' and stride {nd} ints")
    want = _window_out(op, size, window, stride, padding)
    if want != tuple(out):
        raise TypeMismatch(
            f"{op}: a conv of size {size} by window {window} (stride {stride}, {padding})"
            f" gives {want}, not {tuple(out)}"
        )  # fmt: skip


def conv_transpose(
    g: Ob, w: Ob, size: tuple[int, ...], stride: tuple[int, ...] | None = None,
    padding: str = "SAME",
) -> Box:  # fmt: skip
    """The transpose of ``conv`` in its input, ``R(*out, c_out) * R(*win, c_in, c_out) -> x``.

    ``x = R(*size, c_in)`` is the input of the ``conv`` it transposes:

    ``dx[a, i] = sum_{p, q : p * stride + q - pad = a} g[p, o] * w[q, i, o]``, so that
    ``<conv(x, w), g> = <x, conv_transpose(g, w)>`` (the input's cotangent of ``conv``).

    >>> conv_transpose(R(4, 4, 5), R(3, 3, 2, 5), (8, 8), (2, 2)).cod
    R(8, 8, 2)
    """
    y, k = _real("conv_transpose", g), _real("conv_transpose", w)
    nd = len(y.shape) - 1
    if nd not in (1, 2) or len(k.shape) != nd + 2 or k.shape[-1] != y.shape[-1]:
        raise TypeMismatch(
            f"conv_transpose: expected g = R(*spatial, c_out) with 1 or 2 spatial axes and"
            f" w = R(*window, c_in, c_out), got {y!r} and {k!r}"
        )
    steps = tuple(stride) if stride is not None else (1,) * nd
    size = tuple(size)
    _conv_check("conv_transpose", size, k.shape[:nd], y.shape[:nd], steps, padding)
    cod = R(*size, k.shape[nd], dtype=_same_dtype("conv_transpose", y, k))
    return _box("conv_transpose", y * k, cod, size=size, stride=steps, padding=padding)


def conv_filter(
    a: Ob, g: Ob, window: tuple[int, ...], stride: tuple[int, ...] | None = None,
    padding: str = "SAME",
) -> Box:  # fmt: skip
    """The transpose of ``conv`` in its kernel, ``x * R(*out, c_out) -> R(*win, c_in, c_out)``.

    ``x = R(*size, c_in)`` is the input of the ``conv``:

    ``dw[q, i, o] = sum_p x[p * stride + q - pad, i] * g[p, o]``, so that
    ``<conv(x, w), g> = <w, conv_filter(x, g)>`` (the kernel's cotangent of ``conv``).

    >>> conv_filter(R(8, 8, 2), R(8, 8, 5), (3, 3)).cod
    R(3, 3, 2, 5)
    """
    x, y = _real("conv_filter", a), _real("conv_filter", g)
    nd = len(x.shape) - 1
    if nd not in (1, 2) or len(y.shape) != nd + 1:
        raise TypeMismatch(
            f"conv_filter: expected x = R(*spatial, c_in) and g = R(*spatial, c_out)"
            f" with 1 or 2 spatial axes, got {x!r} and {y!r}"
        )
    steps = tuple(stride) if stride is not None else (1,) * nd
    win = tuple(window)
    _conv_check("conv_filter", x.shape[:nd], win, y.shape[:nd], steps, padding)
    cod = R(*win, x.shape[-1], y.shape[-1], dtype=_same_dtype("conv_filter", x, y))
    return _box("conv_filter", x * y, cod, window=win, stride=steps, padding=padding)


def _window_out(
    op: str, size: tuple[int, ...], window: tuple[int, ...], stride: tuple[int, ...], padding: str
) -> tuple[int, ...]:
    if padding == "SAME":
        return tuple(-(-n // s) for n, s in zip(size, stride, strict=True))
    out = tuple((n - k) // s + 1 for n, k, s in zip(size, window, stride, strict=True))
    if any(n < 1 for n in out):
        raise TypeMismatch(f"{op}: window {window} is larger than the input {size}")
    return out


# -- linear -------------------------------------------------------------------------


def _binary(name: str, a: Ob, b: Ob) -> Box:
    x, y = _real(name, a), _real(name, b)
    cod = R(*_broadcast_shape(name, x.shape, y.shape), dtype=_same_dtype(name, x, y))
    return _box(name, x * y, cod)


def add(a: Ob, b: Ob) -> Box:
    """The sum ``x + y`` with NumPy broadcasting (linear).

    >>> add(R(4, 3), R(3)).cod
    R(4, 3)
    """
    return _binary("add", a, b)


def sub(a: Ob, b: Ob) -> Box:
    """The difference ``x - y`` with NumPy broadcasting (linear).

    >>> sub(R(4, 3), R(4, 1)).cod
    R(4, 3)
    """
    return _binary("sub", a, b)


def scale(a: Ob, by: float) -> Box:
    """Multiplication ``by * x`` by a constant number (linear).

    >>> scale(R(3), 0.5).attrs["by"]
    0.5
    """
    x = _real("scale", a)
    return _box("scale", x, x, by=float(by))


def full(ob: Ob, value: float) -> Box:
    """The constant array ``One -> R(...)`` with every entry equal to ``value``.

    Like a frozen parameter, a constant does not depend on the input; it counts as
    linear (the analysis treats it as external).

    >>> full(R(), 1e-5)
    Box('full', One, R(), cls='linear', value=1e-05)
    """
    x = _real("full", ob)
    return _box("full", One, x, value=float(value))


def reshape(a: Ob, *shape: int | Dim) -> Box:
    """The same entries in row-major order, viewed with another shape (linear).

    >>> reshape(R(4, 6), 4, 2, 3).cod
    R(4, 2, 3)
    """
    x = _real("reshape", a)
    y = R(*shape, dtype=x.dtype)
    if _symbolic_size(x.shape) != _symbolic_size(y.shape):
        raise TypeMismatch(f"reshape: {x!r} and {y!r} do not have the same entries")
    if y.size != x.size:
        raise TypeMismatch(f"reshape: {x!r} has {x.size} entries, {y!r} has {y.size}")
    return _box("reshape", x, y, shape=tuple(shape))


def _symbolic_size(shape: tuple[Any, ...]) -> tuple[int, tuple[tuple[str, int], ...]]:
    """A shape's size as a monomial: the product of its ints and the sorted dims."""
    n, dims = 1, []
    for k in shape:
        if isinstance(k, Dim):
            dims.append((k.name, k.max))
        else:
            n *= k
    return n, tuple(sorted(dims))


def transpose(a: Ob, perm: tuple[int, ...]) -> Box:
    """The axes permuted: axis ``k`` of the result is axis ``perm[k]`` of ``x`` (linear).

    >>> transpose(R(2, 3, 4), (2, 0, 1)).cod
    R(4, 2, 3)
    """
    x = _real("transpose", a)
    if sorted(perm) != list(range(len(x.shape))):
        raise TypeMismatch(f"transpose: {tuple(perm)} is not a permutation of the axes of {x!r}")
    return _box("transpose", x, R(*(x.shape[k] for k in perm), dtype=x.dtype), perm=tuple(perm))


def broadcast(a: Ob, *shape: int) -> Box:
    """``x`` repeated along new leading axes or axes of size 1, NumPy style (linear).

    >>> broadcast(R(1, 3), 5, 4, 3).cod
    R(5, 4, 3)
    """
    x = _real("broadcast", a)
    out = _broadcast_shape("broadcast", x.shape, tuple(shape))
    if out != tuple(shape):
        raise TypeMismatch(f"broadcast: {x!r} does not broadcast to shape {tuple(shape)}")
    return _box("broadcast", x, R(*shape, dtype=x.dtype), shape=tuple(shape))


def concat(a: Ob, b: Ob, axis: int = -1) -> Box:
    """The two arrays joined along ``axis`` (linear; the other axes must agree).

    >>> concat(R(4, 2), R(4, 3)).cod
    R(4, 5)
    """
    x, y = _real("concat", a), _real("concat", b)
    k = _axis("concat", x, axis)
    if len(x.shape) != len(y.shape) or any(
        m != n for i, (m, n) in enumerate(zip(x.shape, y.shape, strict=True)) if i != k
    ):
        raise TypeMismatch(f"concat: {x!r} and {y!r} differ off axis {axis}")
    shape = list(x.shape)
    shape[k] += y.shape[k]
    return _box("concat", x * y, R(*shape, dtype=_same_dtype("concat", x, y)), axis=k)


def take(a: Ob, index: int, axis: int = 0) -> Box:
    """The slice ``x[..., index, ...]`` at a fixed ``index`` of ``axis`` (linear).

    >>> take(R(5, 3), 2).cod
    R(3)
    """
    x = _real("take", a)
    k = _axis("take", x, axis)
    if not 0 <= index < x.shape[k]:
        raise TypeMismatch(f"take: index {index} is out of range for axis {k} of {x!r}")
    cod = R(*(n for i, n in enumerate(x.shape) if i != k), dtype=x.dtype)
    return _box("take", x, cod, index=index, axis=k)


def gather(table: Ob, labels: Ob) -> Box:
    """Rows picked by labels, ``(t, ix) ↦ t[ix]``: ``R(V, *e) * Fin(V, *s) -> R(*s, *e)``.

    For one label, ``Fin(V) ≅ One + ... + One``, and ``t ↦ t[i]`` is the ``i``-th
    case of a copairing: linear in the table on each label (``nn.embedding``).

    Out-of-range labels are outside the type ``Fin(V)``. Run eagerly, the JAX
    backend raises ``IndexError``; under ``jit`` it cannot look at values, and
    clamps a label ``>= V`` to ``V - 1`` (the last row) and wraps a negative one,
    as ``jnp`` indexing does (both tested). Check labels before a jitted ``apply``.

    >>> gather(R(65, 8), Fin(65, 16)).cod
    R(16, 8)
    """
    t = _real("gather", table)
    if not isinstance(labels, Fin) or not t.shape or labels.n != t.shape[0]:
        raise TypeMismatch(
            f"gather: expected R(V, ...) and Fin(V, ...), got {table!r} and {labels!r}"
        )
    return _box("gather", t * labels, R(*labels.shape, *t.shape[1:], dtype=t.dtype))


def one_hot(labels: Ob, dtype: str = "float32") -> Box:
    """The indicator vectors ``Fin(V, *s) -> R(*s, V)``: label ``i`` goes to ``e_i``.

    >>> one_hot(Fin(3, 4)).cod
    R(4, 3)
    """
    if not isinstance(labels, Fin):
        raise expected("one_hot", "a label object Fin(V, ...)", labels)
    return _box("one_hot", labels, R(*labels.shape, labels.n, dtype=dtype))


def _reduce(name: str, a: Ob, axis: int, keepdims: bool) -> Box:
    x = _real(name, a)
    k = _axis(name, x, axis)
    shape = [1 if i == k else n for i, n in enumerate(x.shape) if keepdims or i != k]
    return _box(name, x, R(*shape, dtype=x.dtype), axis=k, keepdims=bool(keepdims))


def reduce_sum(a: Ob, axis: int = -1, keepdims: bool = False) -> Box:
    """The sum over ``axis`` (linear).

    >>> reduce_sum(R(4, 3), -1).cod, reduce_sum(R(4, 3), 0, keepdims=True).cod
    (R(4), R(1, 3))
    """
    return _reduce("reduce_sum", a, axis, keepdims)


def reduce_mean(a: Ob, axis: int = -1, keepdims: bool = False) -> Box:
    """The mean over ``axis`` (linear).

    >>> reduce_mean(R(4, 3), -1, keepdims=True).cod
    R(4, 1)
    """
    return _reduce("reduce_mean", a, axis, keepdims)


def reduce_max(a: Ob, axis: int = -1, keepdims: bool = False) -> Box:
    """The maximum over ``axis`` (piecewise linear).

    >>> reduce_max(R(4, 3)).attrs["cls"]
    'pl'
    """
    return _reduce("reduce_max", a, axis, keepdims)


def causal_mask(a: Ob, fill: float = -1e9) -> Box:
    """Scores ``x[..., i, j]`` kept where ``j <= i`` and replaced by ``fill`` above the diagonal.

    A projection plus a constant: linear when ``fill == 0``, piecewise linear
    (affine) otherwise.

    >>> causal_mask(R(2, 4, 4)).attrs["cls"], causal_mask(R(4, 4), fill=0.0).attrs["cls"]
    ('pl', 'linear')
    """
    x = _real("causal_mask", a)
    if len(x.shape) < 2 or x.shape[-1] != x.shape[-2]:
        raise TypeMismatch(f"causal_mask: expected square scores R(..., n, n), got {x!r}")
    return _box("causal_mask", x, x, fill=float(fill), cls="linear" if fill == 0 else "pl")


def max_pool(a: Ob, window: tuple[int, ...], stride: tuple[int, ...] | None = None) -> Box:
    """The maximum over each window of ``x: R(*spatial, c)`` (piecewise linear, VALID padding).

    >>> max_pool(R(8, 8, 4), (2, 2)).cod
    R(4, 4, 4)
    """
    x = _real("max_pool", a)
    nd = len(x.shape) - 1
    win = tuple(window)
    steps = tuple(stride) if stride is not None else win
    if nd not in (1, 2) or len(win) != nd or len(steps) != nd:
        raise TypeMismatch(
            f"max_pool: expected R(*spatial, c) with 1 or 2 spatial axes and a window of"
            f" that many ints, got {x!r} and {win}"
        )
    out = _window_out("max_pool", x.shape[:nd], win, steps, "VALID")
    return _box("max_pool", x, R(*out, x.shape[-1], dtype=x.dtype), window=win, stride=steps)


def _pool_args(op: str, a: Ob, window: tuple[int, ...], stride: tuple[int, ...] | None) -> Box:
    """The ``max_pool`` box the routing primitives ``max_pool_scatter``/``_select`` refer to."""
    try:
        return max_pool(a, window, stride)
    except TypeMismatch as e:
        raise TypeMismatch(f"{op}: {e}") from None


def max_pool_scatter(
    a: Ob, g: Ob, window: tuple[int, ...], stride: tuple[int, ...] | None = None
) -> Box:
    """Each window's cotangent sent to its maximum: ``R(*size, c) * R(*out, c) -> R(*size, c)``.

    The input's cotangent of ``max_pool`` at ``x``: ``g[p]`` is added at the position
    of the maximum of window ``p`` (the first in row-major order on ties, as XLA's
    select-and-scatter does). Linear in ``g``, piecewise constant in ``x``.

    >>> max_pool_scatter(R(4, 4, 2), R(2, 2, 2), (2, 2)).cod
    R(4, 4, 2)
    """
    pool = _pool_args("max_pool_scatter", a, window, stride)
    y = _real("max_pool_scatter", g)
    if y != pool.cod:
        raise expected("max_pool_scatter", f"the cotangent {pool.cod!r}", y)
    return _box("max_pool_scatter", pool.dom * y, pool.dom, **_window_attrs(pool))


def max_pool_select(
    a: Ob, t: Ob, window: tuple[int, ...], stride: tuple[int, ...] | None = None
) -> Box:
    """Each window's tangent read at its maximum: ``R(*size, c) * R(*size, c) -> R(*out, c)``.

    The forward derivative of ``max_pool`` at ``x`` in the direction ``t`` (the
    transpose of ``max_pool_scatter`` in its second factor).

    >>> max_pool_select(R(4, 4, 2), R(4, 4, 2), (2, 2)).cod
    R(2, 2, 2)
    """
    pool = _pool_args("max_pool_select", a, window, stride)
    if _real("max_pool_select", t) != pool.dom:
        raise expected("max_pool_select", f"the tangent {pool.dom!r}", t)
    return _box("max_pool_select", pool.dom * pool.dom, pool.cod, **_window_attrs(pool))


def _window_attrs(pool: Box) -> dict[str, Any]:
    return {"window": pool.attrs["window"], "stride": pool.attrs["stride"]}


# -- nonlinear elementwise maps -----------------------------------------------------


def _map(name: str, a: Ob) -> Box:
    x = _real(name, a)
    return _box(name, x, x)


def relu(a: Ob) -> Box:
    """``max(x, 0)`` elementwise (piecewise linear).

    >>> relu(R(3)).dom, relu(R(3)).cod
    (R(3), R(3))
    """
    return _map("relu", a)


def gelu(a: Ob) -> Box:
    """``x/2 (1 + tanh(√(2/π) (x + 0.044715 x³)))`` elementwise: GELU, tanh form (smooth).

    >>> gelu(R(3)).attrs["cls"]
    'smooth'
    """
    return _map("gelu", a)


def tanh(a: Ob) -> Box:
    """``tanh(x)`` elementwise (smooth).

    >>> tanh(R(3)).name
    'tanh'
    """
    return _map("tanh", a)


def exp(a: Ob) -> Box:
    """``e^x`` elementwise (smooth).

    >>> exp(R(3)).name
    'exp'
    """
    return _map("exp", a)


def rsqrt(a: Ob) -> Box:
    """``1 / √x`` elementwise, for ``x > 0`` (smooth).

    >>> rsqrt(R(3)).name
    'rsqrt'
    """
    return _map("rsqrt", a)


def div(a: Ob, b: Ob) -> Box:
    """The quotient ``x / y`` with NumPy broadcasting, for ``y != 0`` (smooth, rational).

    >>> div(R(4, 3), R(4, 1)).cod
    R(4, 3)
    """
    return _binary("div", a, b)


def softmax(a: Ob, axis: int = -1) -> Box:
    """``e^x / Σ e^x`` along ``axis`` (smooth): the composite ``exp ; normalise``.

    A primitive rather than its composite for speed only: the backend uses the
    stable form ``e^(x - max x)`` with the maximum outside the gradient, as
    hand-written models do; ``topos.nn.softmax(..., built=True)`` is the
    composite of ``exp``, ``reduce_sum`` and ``div``, and tests check they agree.

    >>> softmax(R(2, 4, 4)).attrs
    {'axis': 2, 'cls': 'smooth'}
    """
    x = _real("softmax", a)
    return _box("softmax", x, x, axis=_axis("softmax", x, axis))


def softmax_fold(
    q: Ob,
    k: Ob,
    v: Ob,
    *,
    scale: float,
    causal: bool = True,
    fill: float = -1e9,
    block: int = 512,
) -> Box:
    """Multi-head attention ``softmax(mask(scale · q kᵀ)) v`` computed as a fold over key blocks.

    ``q: R(s, kv, g, dh)`` (``g`` query heads per key/value head), ``k: R(t, kv, dh)``,
    ``v: R(t, kv, dv)``, result ``R(s, kv, g, dv)``: per head, the same function as
    ``einsum("skgd,tkd->kgst") ; scale ; causal_mask(fill) ; softmax ; einsum("kgst,tkd->skgd")``
    (the layout of ``topos.nn.self_attention``), but the ``s × t`` scores are never
    materialised: keys are folded ``block`` at a time with the online-softmax monoid
    (``topos.rewrite.fold``), so memory is linear in the length. ``optimize(f,
    memory_budget=...)`` introduces it by the law ``softmax-fold``; it is rarely
    written by hand.

    >>> box = softmax_fold(R(8, 2, 2, 4), R(8, 2, 4), R(8, 2, 4), scale=0.5, block=4)
    >>> box.cod, box.attrs["cls"], box.attrs["block"]
    (R(8, 2, 2, 4), 'smooth', 4)
    >>> try:
    ...     softmax_fold(R(8, 2, 2, 4), R(8, 3, 4), R(8, 2, 4), scale=0.5)
    ... except TypeMismatch as e:
    ...     print(str(e).split(", got ")[1])
    R(8, 2, 2, 4), R(8, 3, 4), R(8, 2, 4)
    """
    qs, ks, vs = (_real("softmax_fold", x) for x in (q, k, v))
    ok = len(qs.shape) == 4 and len(ks.shape) == len(vs.shape) == 3
    ok = ok and qs.shape[1] == ks.shape[1] == vs.shape[1] and qs.shape[3] == ks.shape[2]
    ok = ok and ks.shape[0] == vs.shape[0]
    if not ok:
        raise TypeMismatch(
            "softmax_fold: expected q R(s, kv, g, dh), k R(t, kv, dh), v R(t, kv, dv),"
            f" got {qs!r}, {ks!r}, {vs!r}"
        )
    if causal and qs.shape[0] != ks.shape[0]:
        raise TypeMismatch(
            f"softmax_fold: causal needs as many queries as keys, got {qs!r}, {ks!r}"
        )
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"softmax_fold: block must be a positive int, got {block!r}")
    _same_dtype("softmax_fold", qs, ks)
    dt = _same_dtype("softmax_fold", qs, vs)
    s, kv, g, _ = qs.shape
    out = R(s, kv, g, vs.shape[2], dtype=dt)
    attrs = {"scale": float(scale), "causal": bool(causal), "fill": float(fill), "block": block}
    return _box("softmax_fold", qs * ks * vs, out, **attrs)


# -- added vocabulary: smooth maps, constants, slices, comparisons, randomness -------------


def sigmoid(a: Ob) -> Box:
    """``1 / (1 + e^(-x))`` elementwise: the logistic function (smooth).

    >>> sigmoid(R(3)).attrs["cls"]
    'smooth'
    """
    return _map("sigmoid", a)


def silu(a: Ob) -> Box:
    """``x * sigmoid(x)`` elementwise: SiLU, also called swish (smooth).

    >>> silu(R(2, 3)).cod
    R(2, 3)
    """
    return _map("silu", a)


def sin(a: Ob) -> Box:
    """``sin(x)`` elementwise (smooth).

    >>> sin(R(3)).name
    'sin'
    """
    return _map("sin", a)


def cos(a: Ob) -> Box:
    """``cos(x)`` elementwise (smooth).

    >>> cos(R(3)).name
    'cos'
    """
    return _map("cos", a)


def log(a: Ob) -> Box:
    """The natural logarithm ``ln(x)`` elementwise, for ``x > 0`` (smooth).

    >>> log(R(3)).name
    'log'
    """
    return _map("log", a)


def sqrt(a: Ob) -> Box:
    """``√x`` elementwise, for ``x >= 0`` (smooth away from 0).

    >>> sqrt(R(3)).name
    'sqrt'
    """
    return _map("sqrt", a)


def erf(a: Ob) -> Box:
    """The error function ``erf(x) = 2/√π ∫_0^x e^(-t²) dt`` elementwise (smooth).

    The exact GELU is ``x/2 (1 + erf(x/√2))``.

    >>> erf(R(3)).name
    'erf'
    """
    return _map("erf", a)


def arange(n: int | Dim, start: float = 0.0, step: float = 1.0, dtype: str = "float32") -> Box:
    """The constant vector ``One -> R(n)`` with entries ``start + k * step``, ``k < n``.

    Like ``full``, a constant: it does not depend on the input (class linear).
    Position indices and frequency tables (rotary embeddings) are built from it.

    >>> arange(4).cod, arange(4, 1.0, 0.5).attrs["step"]
    (R(4), 0.5)
    """
    if not isinstance(n, Dim) and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise TypeMismatch(f"arange: n must be a positive int or a Dim, got {n!r}")
    return _box("arange", One, R(n, dtype=dtype), start=float(start), step=float(step))


def slice_axis(a: Ob, start: int, stop: int | Dim, axis: int = -1) -> Box:
    """The slice ``x[..., start:stop, ...]`` along ``axis`` (linear; a projection).

    Box name ``slice``; ``0 <= start < stop <= size`` of that axis. ``stop`` may
    be a ``Dim`` whose bound is at most the size, with ``start == 0``: a table of
    the maximal length cut to the variable length.

    >>> slice_axis(R(4, 8), 0, 4).cod, slice_axis(R(4, 8), 1, 3, axis=0).cod
    (R(4, 4), R(2, 8))
    >>> slice_axis(R(128, 8), 0, Dim("seq", 128), axis=0).cod
    R(Dim('seq', 128), 8)
    >>> slice_axis(R(4, 8), 6, 10)
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: slice: [6:10] is out of range for axis 1 of R(4, 8)
    """
    x = _real("slice", a)
    k = _axis("slice", x, axis)
    if isinstance(stop, Dim) and isinstance(x.shape[k], int):
        if start != 0 or isinstance(start, bool) or stop.max > x.shape[k]:
            raise TypeMismatch(
                f"slice: [{start}:{stop!r}] needs start 0 and a bound <= {x.shape[k]}"
                f" (axis {k} of {x!r})"
            )
        shape = tuple(stop if i == k else n for i, n in enumerate(x.shape))
        return _box("slice", x, R(*shape, dtype=x.dtype), start=0, stop=stop, axis=k)
    if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop <= x.shape[k]):
        raise TypeMismatch(f"slice: [{start}:{stop}] is out of range for axis {k} of {x!r}")
    shape = tuple(stop - start if i == k else n for i, n in enumerate(x.shape))
    return _box("slice", x, R(*shape, dtype=x.dtype), start=start, stop=stop, axis=k)


#: The comparisons ``compare`` knows, by name.
COMPARISONS = ("lt", "le", "gt", "ge", "eq", "ne")


def compare(a: Ob, b: Ob, op: str = "lt") -> Box:
    """The indicator ``1.0 if x op y else 0.0`` elementwise, with broadcasting (pl).

    ``op`` is one of ``COMPARISONS``. The result is the indicator of a semilinear
    set (a half-space per entry): piecewise constant, so piecewise linear in the
    sense of semilinear geometry (not continuous).

    >>> compare(R(4, 1), R(4), "ge").cod, compare(R(3), R(3)).attrs["op"]
    (R(4, 4), 'lt')
    """
    if op not in COMPARISONS:
        raise TypeMismatch(f"compare: op must be one of {COMPARISONS}, got {op!r}")
    x, y = _real("compare", a), _real("compare", b)
    cod = R(*_broadcast_shape("compare", x.shape, y.shape), dtype=_same_dtype("compare", x, y))
    return _box("compare", x * y, cod, op=op)


def where(cond: Ob, a: Ob, b: Ob) -> Box:
    """``x`` where ``cond != 0``, else ``y``, elementwise with broadcasting (pl).

    The domain is ``cond * x * y``. For a fixed ``cond`` it is a projection
    (linear in ``x`` and ``y``); as a map of all three it is piecewise linear.

    >>> where(R(4), R(3, 4), R()).cod
    R(3, 4)
    """
    c, x, y = _real("where", cond), _real("where", a), _real("where", b)
    shape = _broadcast_shape("where", _broadcast_shape("where", c.shape, x.shape), y.shape)
    return _box("where", c * x * y, R(*shape, dtype=_same_dtype("where", x, y)))


def bernoulli(seed: Ob, shape: tuple[int, ...], rate: float) -> Box:
    """A random 0/1 mask ``Fin(n) -> R(*shape)``: each entry is 0 with probability ``rate``.

    The randomness is an explicit input: the seed (a label ``0 <= s < n``) picks
    the mask, deterministically. As a map out of ``Fin(n) ≅ One + ... + One`` it
    is a copairing of constants, so it counts as linear; the backend draws the
    mask with ``jax.random.bernoulli(jax.random.key(s), 1 - rate)``.

    >>> bernoulli(Fin(2**31), (4, 3), 0.1).cod
    R(4, 3)
    """
    if not isinstance(seed, Fin) or seed.shape:
        raise expected("bernoulli", "one seed label Fin(n)", seed)
    if not 0.0 <= rate < 1.0:
        raise TypeMismatch(f"bernoulli: rate must be in [0, 1), got {rate!r}")
    return _box("bernoulli", seed, R(*shape), rate=float(rate))


def fold_in(seed: Ob, salt: int) -> Box:
    """A new seed from a seed and a salt: ``Fin(n) -> Fin(n)``, ``s ↦ h(s, salt)``.

    Different salts give independent seeds (the backend folds ``salt`` into
    ``jax.random.key(s)`` and draws a label below ``n``), so one key fans out
    into as many as needed: a dropout site per salt, a layer of a stack per
    step (``fold_in(seed, 0)`` for the next layer). Like ``bernoulli`` it is a
    map out of a finite set, hence linear.

    >>> fold_in(Fin(2**31), 3).cod, fold_in(Fin(2**31), 3).attrs["salt"]
    (Fin(2147483648), 3)
    """
    if not isinstance(seed, Fin) or seed.shape or seed.n < 1:
        raise expected("fold_in", "one seed label Fin(n), n >= 1", seed)
    if isinstance(salt, bool) or not isinstance(salt, int) or not 0 <= salt < 2**31:
        raise TypeMismatch(f"fold_in: salt must be an int in [0, 2**31), got {salt!r}")
    return _box("fold_in", seed, seed, salt=salt)


# -- routing: choosing by the input, dispatching by labels -----------------------------------


def top_k(a: Ob, k: int) -> Box:
    """The ``k`` largest entries of the last axis and their indices.

    ``top_k(x, k): R(*s, m) -> R(*s, k) * Fin(m, *s, k)``.

    Values in decreasing order, ties broken towards the lower index (as
    ``jax.lax.top_k``). The values are piecewise linear (each is a max over
    subsets); the indices are *piecewise constant*: choosing ``argmax`` splits
    the domain ``R(m)`` into the ``m`` cells where each entry wins, i.e. it maps
    into the coproduct ``Fin(m) = One + ... + One`` — a case split on the input.
    ``topos.analysis`` reports it as a ``coproduct`` witness.

    >>> top_k(R(5, 8), 2).cod
    R(5, 2) * Fin(8, 5, 2)
    >>> top_k(R(8), 9)
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: top_k: k must be an int in 1..8 for R(8), got 9
    """
    x = _real("top_k", a)
    if not x.shape or not isinstance(x.shape[-1], int):
        raise TypeMismatch(f"top_k: expected R(..., m) with a fixed last axis, got {x!r}")
    m = x.shape[-1]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= m:
        raise TypeMismatch(f"top_k: k must be an int in 1..{m} for {x!r}, got {k!r}")
    lead = x.shape[:-1]
    return _box("top_k", x, R(*lead, k, dtype=x.dtype) * Fin(m, *lead, k), k=k)


def dispatch(labels: Ob, capacity: int) -> Box:
    """Slots in per-label buffers of ``capacity`` rows, and which entries got one.

    ``dispatch(labels, C): Fin(E, n, k) -> Fin(E * C + 1, n, k) * R(n, k)``.

    Entry ``(t, j)`` (token ``t``'s ``j``-th choice, label ``e``) gets the slot
    ``e * C + r``, where ``r`` counts the earlier entries with label ``e`` in the
    order *choice first, then token* (every token's first choice is served before
    any second choice, as in GShard and Switch), when ``r < C``; otherwise it is
    *dropped* and gets the overflow slot ``E * C``. The second factor is the keep
    mask, 1.0 where the entry got a slot. A map out of a finite set (a copairing
    of constants), so linear; the backend computes it by a cumulative count
    (``O(n k E)``), the sort-free form of sort-based dispatch.

    >>> dispatch(Fin(4, 6, 2), 3).cod
    Fin(13, 6, 2) * R(6, 2)
    """
    if not isinstance(labels, Fin) or len(labels.shape) != 2 or labels.n < 1:
        raise expected("dispatch", "labels Fin(E, n, k)", labels)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise TypeMismatch(f"dispatch: capacity must be a positive int, got {capacity!r}")
    slots = labels.n * capacity + 1
    return _box(
        "dispatch", labels, Fin(slots, *labels.shape) * R(*labels.shape), capacity=capacity
    )


def scatter_add(values: Ob, labels: Ob) -> Box:
    """The adjoint of ``gather``: ``R(*s, *e) * Fin(V, *s) -> R(V, *e)``.

    ``out[v] = Σ_{ix[s] = v} x[s]``.

    Rows sent to the same label add up; labels that receive nothing are zero. For
    fixed labels it is linear in the values (the transpose of ``gather``'s
    matrix), and as a map out of ``Fin`` it is a copairing of such maps: linear.

    >>> scatter_add(R(6, 2, 8), Fin(13, 6, 2)).cod
    R(13, 8)
    """
    x = _real("scatter_add", values)
    s = getattr(labels, "shape", None)
    if not isinstance(labels, Fin) or s is None or tuple(x.shape[: len(s)]) != tuple(s):
        raise TypeMismatch(
            f"scatter_add: expected R(*s, ...) and Fin(V, *s), got {values!r} and {labels!r}"
        )
    return _box("scatter_add", x * labels, R(labels.n, *x.shape[len(s) :], dtype=x.dtype))


def relative_buckets(
    rows: int | Dim,
    cols: int | Dim,
    buckets: int,
    max_distance: int,
    *,
    bidirectional: bool,
) -> Box:
    """T5's relative-position buckets, a constant ``One -> Fin(buckets, rows, cols)``.

    Entry ``(i, j)`` is the bucket of the distance ``j - i`` (key minus query):
    half the buckets (all, if not ``bidirectional``, where later keys share
    bucket 0) hold exact small distances, the rest grow logarithmically up to
    ``max_distance``, beyond which distances share the last bucket (Raffel et al.
    2020, section 2.1). Like ``arange``, a constant: linear.

    >>> relative_buckets(4, 4, 32, 128, bidirectional=True).cod
    Fin(32, 4, 4)
    """
    _positive("relative_buckets", buckets=buckets, max_distance=max_distance)
    for name, n in (("rows", rows), ("cols", cols)):
        if not isinstance(n, Dim):
            _positive("relative_buckets", **{name: n})
    half = buckets // 2 if bidirectional else buckets
    if half < 2:
        raise TypeMismatch(f"relative_buckets: {buckets} buckets are too few")
    return _box(
        "relative_buckets", One, Fin(buckets, rows, cols), max_distance=max_distance,
        bidirectional=bool(bidirectional),
    )  # fmt: skip


def _positive(op: str, **sizes: object) -> None:
    for key, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TypeMismatch(f"{op}: {key} must be a positive int, got {n!r}")


# -- primitives of another library, imported as they are ------------------------------------

#: The classes a ``foreign`` box may declare: the chain, ``bilinear``, or ``unknown``.
FOREIGN_CLASSES = (*CLASSES, "bilinear", "unknown")


def foreign(op: str, dom: Ob, cod: Ob, cls: str = "unknown", **attrs: Any) -> Box:
    """A primitive ``op`` of another library, kept as it is: a box named ``foreign``.

    An importer (``backends.jax.from_jax`` reads a jaxpr) makes one for every
    operation the vocabulary has no box for. ``op`` names the operation, ``attrs``
    carry what the library needs to run it again (the backend calls the operation
    back with them), and ``cls`` is its class when the importer knows it
    (``broadcast_in_dim`` is linear, ``select_n`` piecewise linear), else
    ``"unknown"``: ``topos.analysis`` then counts it as smooth and names it in a
    witness — an import is never silently taken for more than is known.

    >>> f = foreign("cumsum", R(4), R(4), cls="linear", axis=0)
    >>> f.name, f.attrs["op"], f.attrs["cls"]
    ('foreign', 'cumsum', 'linear')
    >>> foreign("cumsum", R(4), R(4), cls="affine")
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: foreign cumsum: cls must be one of ('linear', ...), got 'affine'
    """
    if not isinstance(op, str) or not op:
        raise TypeMismatch(f"foreign: op must be a non-empty string, got {op!r}")
    if cls not in FOREIGN_CLASSES:
        raise TypeMismatch(f"foreign {op}: cls must be one of {FOREIGN_CLASSES}, got {cls!r}")
    return Box("foreign", dom, cod, op=op, cls=cls, **attrs)
