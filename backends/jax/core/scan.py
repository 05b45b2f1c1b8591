"""The diagonal linear recurrence as a fold of a monoid, reassociated in chunks.

``h_t = a_t ⊙ h_{t-1} + b_t`` from ``h_{-1} = 0`` is the fold, prefix by prefix, of
the **monoid of affine maps** ``h ↦ a ⊙ h + b``: a step is the pair ``(a, b)``, two
steps compose as

    (a, b) · (a', b') = (a a', a' b + b')          (first (a, b), then (a', b'))

with unit ``(1, 0)``, and ``h_t`` is the ``b`` part of ``(a_0, b_0) · … · (a_t, b_t)``.
Associativity is the whole licence to run it in parallel: any bracketing of the
fold gives the same ``h``. ``jax.lax.associative_scan`` brackets it as a balanced
tree (depth ``log n``, but ``2 log n`` strided passes over the whole sequence);
``linear_scan`` here brackets it in **chunks** of ``chunk`` steps — the blocked,
"state passing" form of SSD / Mamba-2:

1. pad the sequence to a multiple of ``chunk`` with the unit ``(1, 0)`` (the fold
   is unchanged), then within every chunk take every prefix of its product,
   ``(A_t, h_t) = (a_0, b_0) · … · (a_t, b_t)`` — ``chunk`` fused elementwise steps
   run on all chunks at once (``A_t = a_0 ⋯ a_t`` is a product, never a quotient);
2. across chunks, fold the chunk products by a short scan (``n / chunk`` steps):
   ``s_k``, the state entering chunk ``k``;
3. each prefix after the state entering its chunk: ``(1, s_k) · (A_t, h_t)`` has
   ``b`` part ``A_t s_k + h_t``.

Work ``O(n)`` (about three multiply–adds a step), depth ``chunk + n / chunk``, and
no division: with ``|a| < 1`` the products ``A_t`` underflow to ``0`` harmlessly
(then the state entering a chunk is forgotten, as it is by the sequential fold).

Laws (property-tested in ``tests/backends/jax/test_scan.py``):

>>> import jax
>>> import jax.numpy as jnp
>>> scan = jax.jit(linear_scan, static_argnames="chunk")
>>> a = jnp.array([0.5, 2.0, -1.0, 0.0, 3.0, 0.25, 1.0])
>>> b = jnp.array([1.0, 1.0, 2.0, 1.0, -1.0, 4.0, 0.5])
>>> scan(a, b, chunk=3)
Array([ 1. ,  3. , -1. ,  1. ,  2. ,  4.5,  5. ], dtype=float32)

Every chunk size is the same fold (``chunk=1``: the sequential fold; ``chunk >= n``:
one chunk), and so is the balanced tree:

>>> tree = jax.jit(lambda a, b: jax.lax.associative_scan(compose, (a, b))[1])(a, b)
>>> all(bool(jnp.array_equal(scan(a, b, chunk=c), tree)) for c in (1, 2, 3, 7))
True

The monoid's laws, on three steps and the unit:

>>> x, y, z = (a[0], b[0]), (a[1], b[1]), (a[2], b[2])
>>> compose(compose(x, y), z) == compose(x, compose(y, z)), compose((1.0, 0.0), x) == x
(True, True)

Long sequences of contractions underflow to zeros, never to ``nan``:

>>> tiny = jnp.full((512,), 1e-30)
>>> bool(jnp.isfinite(scan(tiny, jnp.ones(512))).all())
True
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jax import lax

__all__ = ["CHUNK", "compose", "linear_scan"]

#: The chunk of ``linear_scan``. On a CPU, in the SSM layer at n = 4096, chunks of 4 and
#: 8 measured alike and 16, 32 slower; the within-chunk steps are unrolled, so compile
#: time grows with the chunk (``benchmarks/recurrent.py`` times the layer).
CHUNK = 8


def compose(first: Any, then: Any) -> Any:
    """The monoid of affine maps: ``(a, b) · (a', b') = (a a', a' b + b')``.

    >>> compose((2.0, 1.0), (3.0, 5.0))  # h ↦ 3 (2 h + 1) + 5
    (6.0, 8.0)
    """
    (a1, b1), (a2, b2) = first, then
    return a1 * a2, a2 * b1 + b2


def linear_scan(a: Any, b: Any, chunk: int = CHUNK) -> Any:
    """Every ``h_t = a_t ⊙ h_{t-1} + b_t`` along axis 0 from ``h_{-1} = 0``, in chunks.

    ``a`` and ``b`` are arrays of one shape ``(n, ...)``; the result has that shape.

    >>> import jax
    >>> jax.jit(linear_scan, static_argnums=2)(jnp.ones((5, 2)), jnp.ones((5, 2)), 2)[:, 0]
    Array([1., 2., 3., 4., 5.], dtype=float32)
    >>> linear_scan(jnp.ones(3), jnp.ones(4))
    Traceback (most recent call last):
    ...
    ValueError: linear_scan: a and b must have one shape (n, ...), got (3,) and (4,)
    """
    if a.shape != b.shape or not a.shape:
        raise ValueError(
            f"linear_scan: a and b must have one shape (n, ...), got {a.shape} and {b.shape}"
        )
    if not (isinstance(chunk, int) and chunk >= 1):
        raise ValueError(f"linear_scan: chunk must be a positive int, got {chunk!r}")
    n, rest = a.shape[0], a.shape[1:]
    size = min(chunk, n)
    chunks = -(-n // size)
    pad = chunks * size - n
    if pad:  # the unit (1, 0): the fold is unchanged
        a = jnp.concatenate([a, jnp.ones((pad, *rest), a.dtype)])
        b = jnp.concatenate([b, jnp.zeros((pad, *rest), b.dtype)])
    a, b = a.reshape(chunks, size, *rest), b.reshape(chunks, size, *rest)
    prefix_a, prefix_b = [a[:, 0]], [b[:, 0]]  # 1. every prefix within every chunk
    for t in range(1, size):
        prefix_a.append(a[:, t] * prefix_a[-1])
        prefix_b.append(a[:, t] * prefix_b[-1] + b[:, t])
    h = jnp.stack(prefix_b, axis=1)
    if chunks > 1:

        def enter(state: Any, product: Any) -> tuple[Any, Any]:
            return product[0] * state + product[1], state

        # 2. the state entering each chunk, folding the chunk products
        _, entering = lax.scan(enter, jnp.zeros_like(b[0, 0]), (prefix_a[-1], prefix_b[-1]))
        # 3. (1, s) · (A, h) = (A, A s + h)
        h = h + jnp.stack(prefix_a, axis=1) * entering[:, None]
    return h.reshape(chunks * size, *rest)[:n]
