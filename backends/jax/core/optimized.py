"""A Para rewritten by declared laws: the same parameters, a cheaper arrow.

``optimized(p)`` is the Para ``p`` with its arrow optimised by declared laws
(``topos.rewrite.optimize``: same parameters, same function up to floating-point
reassociation); ``model.optimized()`` is the model with the same parameter arrays
running it, and ``fit(loss, model, ..., optimize=True)`` trains through it.

>>> from topos.nn import linear
>>> p = linear(4, 4)
>>> optimized(p) is p  # nothing to gain in one affine map
True
"""

from __future__ import annotations

from backends.jax.core.params import check_para
from topos.para import Para

__all__ = ["optimized"]


def optimized(
    p: Para, cost: bool | str = "flops", *, memory_budget: int | None = None, block: int = 512
) -> Para:
    """The Para ``p`` with its arrow replaced by the cheapest equal one (same parameters).

    ``cost`` is ``"flops"`` (also ``True``) or ``"bytes"``, as in ``compile(f,
    optimize=...)``; a region is rewritten only where it gets at least
    ``topos.rewrite.RUN_MIN_GAIN`` (2) times cheaper. The parameters are inputs
    of the arrow, so they are untouched:
    ``p.parameters()`` is the same and ``init``, ``apply`` and checkpoints work as
    for ``p``. With ``memory_budget`` (bytes per example), each attention whose
    scores would take more becomes a fold over key blocks of ``block``
    (``topos.rewrite.fold``, the law ``softmax-fold``): memory linear in the length.
    When nothing gets cheaper, ``p`` itself comes back. Needs the ``optimize``
    extra (egglog).

    >>> import jax, jax.numpy as jnp
    >>> from topos.rewrite.examples import linear_attention_para
    >>> p = linear_attention_para(256, 8)             # ((X Wq)(X Wk)ᵀ)(X Wv)
    >>> q = optimized(p)                              # (X Wq)((X Wk)ᵀ(X Wv))
    >>> q.parameters() == p.parameters(), q.arrow == p.arrow
    (True, False)
    >>> from backends.jax import apply, init
    >>> params = init(p, jax.random.key(0))
    >>> x = jax.random.normal(jax.random.key(1), (256, 8))
    >>> bool(jnp.allclose(apply(p, params, x), apply(q, params, x), rtol=1e-4, atol=1e-4))
    True
    """
    check_para("optimized", p)
    if cost is True:
        cost = "flops"
    if not isinstance(cost, str):
        raise TypeError(f"optimized: cost must be 'flops' or 'bytes' (or True), got {cost!r}")
    from topos.rewrite import RUN_MIN_GAIN, optimize  # noqa: PLC0415 - the extra (egglog)

    arrow = optimize(
        p.arrow, cost=cost, min_gain=RUN_MIN_GAIN, memory_budget=memory_budget, block=block
    ).arrow
    if arrow is p.arrow:
        return p
    return Para(p.P, arrow, p.params, p.actegory)
