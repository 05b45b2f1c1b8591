"""Sampling from an autoregressive model: temperature sampling over a sliding window.

``sample(p, params, prompt, steps, key)`` continues ``prompt`` (token ids) by
``steps`` new ids. ``p`` is a Para ``Fin(V, n) -> R(n, V)`` whose output at
position ``i`` depends only on positions ``<= i`` (a causal language model such
as ``topos.nn.transformer``). Each new id is drawn from
``softmax(logits / temperature)`` at the last filled position of a window of the
``n`` most recent ids; the unfilled tail of the window is irrelevant by
causality. A model of variable length ``Fin(V, Dim(..., max))`` samples over a
window of ``max`` ids (``backends.jax.decoding.generate`` decodes it with a cache). The
whole loop is one ``lax.fori_loop`` under one ``jax.jit``, compiled once per
model, length and temperature.

Without a cache the model is run on the full window at every step (cost
``steps * n``); this is the simple reference a cached decoder must agree with.

>>> import jax, jax.numpy as jnp
>>> from topos import nn
>>> from backends.jax import init
>>> p = nn.transformer(5, 4, 8, 2, 1)
>>> out = sample(p, init(p, jax.random.key(0)), [1, 2], 6, jax.random.key(1))
>>> out.shape, out.dtype, bool(((0 <= out) & (out < 5)).all())
((6,), dtype('int32'), True)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from backends.jax.core.params import apply
from topos.dims import specialise
from topos.objects import Dim, Fin, R
from topos.para import Para

__all__ = ["sample"]


def sample(
    p: Para,
    params: Mapping[str, Any],
    prompt: Sequence[int] | np.ndarray,
    steps: int,
    key: jax.Array,
    *,
    temperature: float = 1.0,
) -> np.ndarray:
    """``steps`` new token ids continuing ``prompt``, drawn at ``temperature``.

    Args:
        p: a causal Para ``Fin(V, n) -> R(n, V)``.
        params: its parameters (as ``init`` gives them).
        prompt: at least one token id, each in ``0..V-1``.
        steps: how many ids to draw (``>= 0``).
        key: a ``jax.random`` key; the same key gives the same ids.
        temperature: ``> 0``; lower is greedier.

    Returns:
        The new ids, an ``int32`` array of shape ``(steps,)`` (the prompt excluded).

    >>> import jax
    >>> from topos import nn
    >>> from backends.jax import init
    >>> p = nn.transformer(5, 4, 8, 2, 1)
    >>> sample(p, init(p, jax.random.key(0)), [7], 3, jax.random.key(0))
    Traceback (most recent call last):
    ...
    ValueError: sample: prompt ids must be in 0..4 for Fin(5, 4), got 7 at index 0
    """
    dom = getattr(p, "dom", None)
    if isinstance(dom, Fin) and len(dom.shape) == 1 and isinstance(dom.shape[0], Dim):
        p = specialise(p, **{dom.shape[0].name: dom.shape[0].max})  # the window: the bound
    vocab, window = _shape(p)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise TypeError(f"sample: steps must be an int >= 0, got {steps!r}")
    if not (isinstance(temperature, (int, float)) and 0 < temperature < math.inf):
        raise ValueError(f"sample: temperature must be a positive number, got {temperature!r}")
    ids = np.asarray(prompt)
    if ids.ndim != 1 or len(ids) < 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"sample: prompt must be a non-empty list of token ids, got {prompt!r}")
    bad = np.flatnonzero((ids < 0) | (ids >= vocab))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"sample: prompt ids must be in 0..{vocab - 1} for {p.dom!r}, got {ids[i]} at index {i}"
        )
    run = _compiled(p, window, len(ids), steps, float(temperature))
    return np.asarray(run(params, jnp.asarray(ids, jnp.int32), key))


def _shape(p: Para) -> tuple[int, int]:
    dom, cod = getattr(p, "dom", None), getattr(p, "cod", None)
    if not (isinstance(dom, Fin) and len(dom.shape) == 1 and isinstance(cod, R)):
        raise TypeError(f"sample: expected a Para Fin(V, n) -> R(n, V), got {dom!r} -> {cod!r}")
    if cod.shape != (dom.shape[0], dom.n):
        raise TypeError(
            f"sample: expected a Para {dom!r} -> R({dom.shape[0]}, {dom.n}), got {cod!r}"
        )
    return dom.n, dom.shape[0]


@functools.lru_cache(maxsize=16)
def _compiled(
    p: Para, window: int, n: int, steps: int, temperature: float
) -> Callable[[Any, Any, Any], Any]:
    def run(params: Any, prompt: Any, key: Any) -> Any:
        buf = jnp.zeros(max(n + steps, window), jnp.int32).at[:n].set(prompt)

        def body(t: Any, state: tuple[Any, Any]) -> tuple[Any, Any]:
            buf, key = state
            ids = jax.lax.dynamic_slice(buf, (jnp.maximum(t - window, 0),), (window,))
            # the prompt was checked above and draws are in range: no run-time test
            logits = apply(p, params, ids, check_ids=False)[jnp.minimum(t, window) - 1]
            key, sub = jax.random.split(key)
            nxt = jax.random.categorical(sub, logits / temperature)
            return buf.at[t].set(nxt.astype(jnp.int32)), key

        buf, _ = jax.lax.fori_loop(n, n + steps, body, (buf, key))
        return buf[n : n + steps]

    return jax.jit(run)
