"""In-context learning numerics: tasks, the gradient-descent reference, training, alignment.

The tasks of von Oswald et al. 2023 (arXiv 2212.07677) and of the architecture
search (``backends.jax.experiments.search``), as batches of token matrices
``Z: R(N + 1, d_in + d_out)``: ``N`` context tokens ``(x_j, y_j)`` and a query
``(x, 0)`` whose target ``y`` the model reads from the query's last ``d_out``
entries (negated, as in the paper: ``ŷ = -z[-1, d_in:]``).

- ``regression(key, batch, n, d_x)``: ``x ~ U(-1, 1)``, ``W ~ N(0, I)``, ``y = W x``;
- ``recall(key, batch, pairs, keys, d_v)``: associative recall, one-hot keys and
  Gaussian values, the query one of the context keys;
- ``regression_np`` / ``recall_np``: the same tasks drawn with NumPy, with any leading
  shape (a search's batches for every run and step at once, with nothing to compile);
- ``gd_predict``: ``steps`` of gradient descent on ``1/(2N) Σ |W x_j - y_j|²`` from
  ``W0``, then ``W x``; ``best_eta``: its best one-step learning rate (the loss is
  quadratic in ``eta``, so the line search is exact);
- ``alignment``: the paper's measures between two predictors (L2 distance of the
  predictions, cosine similarity and L2 distance of the sensitivities ``∂ŷ/∂x``).

>>> import jax, jax.numpy as jnp
>>> task = regression(jax.random.key(0), 4, n=10, d_x=3)
>>> task.z.shape, task.y.shape
((4, 11, 4), (4, 1))
>>> bool(jnp.all(task.z[:, -1, 3:] == 0))
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from backends.jax.core.params import apply
from topos.para import Para

__all__ = [
    "Alignment",
    "Task",
    "alignment",
    "best_eta",
    "gd_predict",
    "predictor",
    "readout",
    "recall",
    "recall_np",
    "regression",
    "regression_np",
    "squared_error",
    "tokens",
    "train",
]


class Task(NamedTuple):
    """A batch of in-context problems: tokens ``z: (B, N + 1, D)``, targets ``y: (B, d_out)``."""

    z: jax.Array
    y: jax.Array


def tokens(xs: jax.Array, ys: jax.Array, xq: jax.Array) -> jax.Array:
    """The token matrix of one problem: rows ``(x_j, y_j)`` then the query ``(x, 0)``.

    Args:
        xs: the context inputs, ``(N, d_in)``.
        ys: the context targets, ``(N, d_out)``.
        xq: the query input, ``(d_in,)``.

    Returns:
        ``(N + 1, d_in + d_out)``.

    >>> tokens(jnp.ones((2, 1)), 2 * jnp.ones((2, 1)), jnp.zeros(1))
    Array([[1., 2.],
           [1., 2.],
           [0., 0.]], dtype=float32)
    """
    context = jnp.concatenate([xs, ys], axis=-1)
    query = jnp.concatenate([xq, jnp.zeros(ys.shape[-1], ys.dtype)])
    return jnp.concatenate([context, query[None]], axis=0)


def regression(
    key: jax.Array, batch: int, *, n: int = 10, d_x: int = 10, dtype: Any = jnp.float32
) -> Task:
    """In-context linear regression: ``x ~ U(-1, 1)^d_x``, ``W ~ N(0, I)``, ``y = W x`` (d_y = 1).

    Args:
        key: the random key.
        batch: how many problems.
        n: context points per problem.
        d_x: the input dimension.
        dtype: the float dtype of the arrays.

    Returns:
        A ``Task`` with ``z: (batch, n + 1, d_x + 1)``.

    >>> regression(jax.random.key(1), 2, n=5, d_x=2).z.shape
    (2, 6, 3)
    """
    kw, kx = jax.random.split(key)
    w = jax.random.normal(kw, (batch, 1, d_x), dtype)
    x = jax.random.uniform(kx, (batch, n + 1, d_x), dtype, -1.0, 1.0)
    y = jnp.einsum("boi,bni->bno", w, x)
    z = jax.vmap(tokens)(x[:, :n], y[:, :n], x[:, n])
    return Task(z, y[:, n])


def recall(
    key: jax.Array,
    batch: int,
    *,
    pairs: int = 8,
    keys: int = 8,
    d_v: int = 4,
    dtype: Any = jnp.float32,
) -> Task:
    """Associative recall: ``pairs`` tokens ``(k_j, v_j)`` then a key; the target is its value.

    Keys are distinct one-hot vectors of ``R(keys)`` (``pairs <= keys``), values
    ``N(0, I)`` in ``R(d_v)``; the query is one of the context keys.

    Args:
        key: the random key.
        batch: how many problems.
        pairs: context pairs per problem.
        keys: the size of the key alphabet.
        d_v: the value dimension.
        dtype: the float dtype of the arrays.

    Returns:
        A ``Task`` with ``z: (batch, pairs + 1, keys + d_v)``, ``y: (batch, d_v)``.

    >>> t = recall(jax.random.key(0), 3, pairs=4, keys=6, d_v=2)
    >>> t.z.shape, t.y.shape
    ((3, 5, 8), (3, 2))
    """
    if pairs > keys:
        raise ValueError(f"recall: pairs = {pairs} exceeds the {keys} distinct keys")
    kk, kv, kq = jax.random.split(key, 3)
    # a uniformly random arrangement of the keys: argsort of uniform noise (cheap to compile)
    ids = jnp.argsort(jax.random.uniform(kk, (batch, keys)), axis=-1)[:, :pairs]
    k = jax.nn.one_hot(ids, keys, dtype=dtype)
    v = jax.random.normal(kv, (batch, pairs, d_v), dtype)
    which = jax.random.randint(kq, (batch,), 0, pairs)
    rows = jnp.arange(batch)
    z = jax.vmap(tokens)(k, v, k[rows, which])
    return Task(z, v[rows, which])


def _tokens_np(xs: np.ndarray, ys: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """``tokens`` over any leading shape: ``(..., N, d_in), (..., N, d_out), (..., d_in)``."""
    context = np.concatenate([xs, ys], axis=-1)
    query = np.concatenate([xq, np.zeros((*xq.shape[:-1], ys.shape[-1]), ys.dtype)], axis=-1)
    return np.concatenate([context, query[..., None, :]], axis=-2)


def regression_np(
    rng: np.random.Generator, lead: tuple[int, ...], *, n: int = 10, d_x: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """``regression`` drawn with NumPy: ``z: (*lead, n + 1, d_x + 1)``, ``y: (*lead, 1)`` (float32).

    Args:
        rng: the NumPy generator.
        lead: the leading shape, e.g. ``(runs, steps, batch)``.
        n: context points per problem.
        d_x: the input dimension.

    Returns:
        ``(z, y)``.

    >>> z, y = regression_np(np.random.default_rng(0), (2, 3), n=4, d_x=2)
    >>> z.shape, y.shape, z.dtype, bool(np.all(z[..., -1, 2:] == 0))
    ((2, 3, 5, 3), (2, 3, 1), dtype('float32'), True)
    >>> w = np.linalg.lstsq(z[0, 0, :4, :2], z[0, 0, :4, 2], rcond=None)[0]
    >>> bool(np.allclose(z[0, 0, 4, :2] @ w, y[0, 0, 0], atol=1e-4))
    True
    """
    w = rng.standard_normal((*lead, 1, d_x), np.float32)
    x = rng.uniform(-1.0, 1.0, (*lead, n + 1, d_x)).astype(np.float32)
    y = np.einsum("...oi,...ni->...no", w, x)
    return _tokens_np(x[..., :n, :], y[..., :n, :], x[..., n, :]), y[..., n, :]


def recall_np(
    rng: np.random.Generator, lead: tuple[int, ...], *, pairs: int = 8, keys: int = 8, d_v: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """``recall`` drawn with NumPy: ``z: (*lead, pairs + 1, keys + d_v)``, ``y: (*lead, d_v)``.

    Args:
        rng: the NumPy generator.
        lead: the leading shape.
        pairs: context pairs per problem (distinct one-hot keys).
        keys: the size of the key alphabet.
        d_v: the value dimension.

    Returns:
        ``(z, y)`` (float32).

    >>> z, y = recall_np(np.random.default_rng(0), (5,), pairs=3, keys=4, d_v=2)
    >>> z.shape, y.shape
    ((5, 4, 6), (5, 2))
    >>> hit = (z[:, :3, :4] == z[:, 3:, :4]).all(-1)          # the context key queried
    >>> bool(np.all(hit.sum(-1) == 1)), bool(np.allclose(z[:, :3, 4:][hit], y))
    (True, True)
    """
    if pairs > keys:
        raise ValueError(f"recall_np: pairs = {pairs} exceeds the {keys} distinct keys")
    ids = np.argsort(rng.random((*lead, keys)), axis=-1)[..., :pairs]
    k = np.eye(keys, dtype=np.float32)[ids]
    v = rng.standard_normal((*lead, pairs, d_v), np.float32)
    which = rng.integers(0, pairs, lead)[..., None, None]
    kq = np.take_along_axis(k, which, axis=-2)[..., 0, :]
    return _tokens_np(k, v, kq), np.take_along_axis(v, which, axis=-2)[..., 0, :]


def readout(z: jax.Array, d_out: int) -> jax.Array:
    """The prediction read from an output token matrix: ``-z[-1, -d_out:]`` (the paper's sign).

    Args:
        z: one output token matrix ``(N + 1, D)``.
        d_out: the target dimension.

    Returns:
        ``(d_out,)``.

    >>> readout(jnp.array([[1.0, 2.0], [3.0, 4.0]]), 1)
    Array([-4.], dtype=float32)
    """
    return -z[-1, z.shape[-1] - d_out :]


def predictor(p: Para, d_out: int) -> Callable[[Mapping[str, Any], jax.Array], jax.Array]:
    """``(params, z) -> ŷ`` for one problem: run the Para ``p`` on ``z`` and read out.

    If ``p`` already ends in ``R(d_out)`` its output is the prediction itself.

    Args:
        p: a Para ``R(N + 1, D) -> R(N + 1, D)`` (or ``-> R(d_out)``).
        d_out: the target dimension.

    Returns:
        A per-example function; ``jax.vmap`` it over problems.

    >>> from topos.nn.lsa import lsa
    >>> from backends.jax import init
    >>> f = lsa(3, 2, context=2)
    >>> predictor(f, 1)(init(f, jax.random.key(0)), jnp.ones((3, 2))).shape
    (1,)
    """
    direct = getattr(p.cod, "shape", None) == (d_out,)

    def run(params: Mapping[str, Any], z: jax.Array) -> jax.Array:
        out = apply(p, params, z)
        return out if direct else readout(out, d_out)

    return run


def gd_predict(
    z: jax.Array,
    eta: float | jax.Array,
    steps: int = 1,
    w0: jax.Array | None = None,
    d_y: int = 1,
) -> jax.Array:
    """Gradient descent on the context's least squares, then the query's prediction ``W x``.

    ``steps`` steps ``W <- W - eta ∇L(W)`` with ``L(W) = 1/(2N) Σ_j |W x_j - y_j|²``
    from ``w0`` (zeros by default), on the problem ``z`` (as built by ``tokens``).

    Args:
        z: one token matrix ``(N + 1, d_x + d_y)``; its last row is the query.
        eta: the learning rate.
        steps: how many steps.
        w0: the start, ``(d_y, d_x)``.
        d_y: the target dimension (the last ``d_y`` entries of a token).

    Returns:
        ``(d_y,)``.

    >>> z = tokens(jnp.eye(2), jnp.array([[1.0], [2.0]]), jnp.array([1.0, 1.0]))
    >>> gd_predict(z, 2.0, 1)
    Array([3.], dtype=float32)
    """
    d_x = z.shape[-1] - d_y
    xs, ys, xq = z[:-1, :d_x], z[:-1, d_x:], z[-1, :d_x]
    w = jnp.zeros((d_y, d_x), z.dtype) if w0 is None else w0
    for _ in range(steps):
        w = w - eta * (w @ xs.T - ys.T) @ xs / xs.shape[0]
    return w @ xq


def best_eta(z: jax.Array, y: jax.Array) -> jax.Array:
    """The learning rate of one GD step (from zero) with the least mean squared error on ``(z, y)``.

    The one-step prediction is ``eta * g`` with ``g`` the step at ``eta = 1``, so the
    error is quadratic in ``eta`` and its minimiser ``Σ g·y / Σ g·g`` is the exact
    line search.

    Args:
        z: a batch of token matrices ``(B, N + 1, D)``.
        y: their targets ``(B, d_y)``.

    Returns:
        A scalar.

    >>> t = regression(jax.random.key(0), 512, n=10, d_x=10)
    >>> 0.5 < float(best_eta(t.z, t.y)) < 3.0
    True
    """
    g = jax.vmap(lambda zi: gd_predict(zi, 1.0))(z)
    eta: jax.Array = jnp.sum(g * y) / jnp.sum(g * g)
    return eta


class Alignment(NamedTuple):
    """The paper's alignment measures between a trained model and GD, averaged over problems."""

    preds_l2: jax.Array
    sens_cos: jax.Array
    sens_l2: jax.Array


def alignment(
    f: Callable[[jax.Array], jax.Array], g: Callable[[jax.Array], jax.Array], z: jax.Array
) -> Alignment:
    """Compare two per-problem predictors ``z -> ŷ`` (``d_y = 1``) on a batch ``z``.

    ``preds_l2``: mean ``|f(z) - g(z)|``; ``sens_cos`` / ``sens_l2``: mean cosine
    similarity / L2 distance of the sensitivities ``∂ŷ/∂x`` to the query input ``x``
    (the first entries of the last token), as in von Oswald et al., section 3.

    Args:
        f: one predictor.
        g: the other.
        z: token matrices ``(B, N + 1, D)``.

    Returns:
        An ``Alignment`` of scalars.

    >>> t = regression(jax.random.key(0), 8, n=5, d_x=3)
    >>> a = alignment(lambda z: gd_predict(z, 1.0), lambda z: gd_predict(z, 2.0), t.z)
    >>> round(float(a.sens_cos), 5)
    1.0
    """

    def sens(h: Callable[[jax.Array], jax.Array], zi: jax.Array) -> jax.Array:
        def of_query(xq: jax.Array) -> jax.Array:
            return h(zi.at[-1, : xq.shape[0]].set(xq))[0]

        d_x = zi.shape[-1] - 1
        grad: jax.Array = jax.grad(of_query)(zi[-1, :d_x])
        return grad

    pf, pg = jax.vmap(f)(z), jax.vmap(g)(z)
    sf = jax.vmap(lambda zi: sens(f, zi))(z)
    sg = jax.vmap(lambda zi: sens(g, zi))(z)
    dot = jnp.sum(sf * sg, -1)
    cos = dot / (jnp.linalg.norm(sf, axis=-1) * jnp.linalg.norm(sg, axis=-1) + 1e-12)
    return Alignment(
        jnp.mean(jnp.linalg.norm(pf - pg, axis=-1)),
        jnp.mean(cos),
        jnp.mean(jnp.linalg.norm(sf - sg, axis=-1)),
    )


def squared_error(pred: jax.Array, y: jax.Array) -> jax.Array:
    """The paper's loss ``1/2 |ŷ - y|²``, averaged over the batch.

    Args:
        pred: predictions ``(B, d_out)``.
        y: targets ``(B, d_out)``.

    Returns:
        A scalar.

    >>> squared_error(jnp.ones((2, 1)), jnp.zeros((2, 1)))
    Array(0.5, dtype=float32)
    """
    loss: jax.Array = 0.5 * jnp.mean(jnp.sum((pred - y) ** 2, axis=-1))
    return loss


def train(
    predict: Callable[[Mapping[str, Any], jax.Array], jax.Array],
    params: Mapping[str, Any],
    sample: Callable[..., Task] | None,
    keys: jax.Array,
    *,
    steps: int,
    batch: int = 512,
    learning_rate: float | Callable[[jax.Array], jax.Array] = 1e-3,
    chunk: int = 100,
    on_chunk: Callable[[int, dict[str, Any], jax.Array], None] | None = None,
    tasks: jax.Array | None = None,
    data: Task | None = None,
) -> tuple[dict[str, Any], jax.Array]:
    """Adam on ``squared_error`` over fresh batches, for several seeds at once.

    ``params`` are stacked along a leading *seed* axis (``jax.vmap(init)`` over
    keys) and ``keys`` holds one data key per seed: the seeds train side by side
    in one compiled program (step ``t`` of seed ``s`` draws ``sample(fold_in(keys[s],
    t), batch)``). The steps run ``chunk`` at a time inside one ``jax.lax.scan``;
    after each chunk ``on_chunk(step, params, mean_loss_per_seed)`` is called.

    Args:
        predict: the per-problem model ``(params, z) -> ŷ`` (e.g. ``predictor``).
        params: the initial parameters, each with a leading seed axis.
        sample: draws a ``Task`` batch from a key (None when ``data`` is given).
        keys: the data keys, one per seed.
        steps: how many optimiser steps (rounded up to a whole chunk).
        batch: problems per step.
        learning_rate: Adam's learning rate, or a schedule ``step -> rate`` (optax's).
        chunk: steps per compiled loop.
        on_chunk: the callback after each chunk.
        tasks: one int per run; when given, batches are ``sample(key, batch, task)``
            (several tasks trained side by side in one program).
        data: precomputed batches instead of ``sample``: a ``Task`` whose arrays have
            leading axes ``(runs, steps)``; step ``t`` of run ``s`` trains on
            ``data[s, t]``. Passed as an argument, so a new model compiles without
            the data generator (the cost of a search is its compiles).

    Returns:
        The trained parameters (seed axis first) and the mean training loss of
        each chunk, ``(chunks, seeds)``.

    >>> from topos.nn.lsa import lsa
    >>> from backends.jax import init
    >>> f = lsa(6, 4, context=5)
    >>> ps = jax.vmap(lambda k: init(f, k))(jax.random.split(jax.random.key(0), 3))
    >>> data = lambda k, b: regression(k, b, n=5, d_x=3)
    >>> ps, losses = train(predictor(f, 1), ps, data, jax.random.split(jax.random.key(1), 3),
    ...                    steps=20, batch=8, chunk=10)
    >>> losses.shape, ps["lsa.q.w"].shape
    ((2, 3), (3, 4, 4))
    """
    import optax

    opt = optax.adam(learning_rate)

    def loss(ps: Mapping[str, Any], task: Task) -> jax.Array:
        return squared_error(jax.vmap(lambda z: predict(ps, z))(task.z), task.y)

    ids = jnp.zeros(keys.shape[0], jnp.int32) if tasks is None else jnp.asarray(tasks)

    def draw(key: jax.Array, task: jax.Array) -> Task:
        if sample is None:
            raise TypeError("train: pass sample or data")
        return sample(key, batch) if tasks is None else sample(key, batch, task)

    def one_seed(
        ps: Any, state: Any, key: jax.Array, task: jax.Array, rows: Any, t: jax.Array
    ) -> Any:
        if rows is None:
            batch_t = draw(jax.random.fold_in(key, t), task)
        else:
            batch_t = jax.tree.map(lambda a: a[t], rows)
        value, grads = jax.value_and_grad(loss)(ps, batch_t)
        updates, state = opt.update(grads, state, ps)
        return optax.apply_updates(ps, updates), state, value

    def run(ps: Any, state: Any, start: jax.Array, rows: Any) -> Any:
        def one(carry: Any, t: jax.Array) -> Any:
            ps, state = carry
            step = jax.vmap(one_seed, in_axes=(0, 0, 0, 0, 0, None))
            ps, state, value = step(ps, state, keys, ids, rows, t)
            return (ps, state), value

        (ps, state), values = jax.lax.scan(one, (ps, state), start + jnp.arange(chunk))
        return ps, state, jnp.mean(values, axis=0)

    compiled = jax.jit(run)

    ps: dict[str, Any] = dict(params)
    state = jax.vmap(opt.init)(ps)
    losses: list[jax.Array] = []
    for start in range(0, steps, chunk):
        ps, state, mean = compiled(ps, state, jnp.asarray(start), data)
        losses.append(mean)
        if on_chunk is not None:
            on_chunk(start + chunk, ps, mean)
    return ps, jnp.stack(losses)
