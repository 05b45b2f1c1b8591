"""Size limits checked before allocating: a clear error instead of a later abort.

XLA allocates lazily and fails late: ``init`` of a 4 TB parameter used to return
and the process aborted afterwards. ``check_total_size`` adds up the bytes the
arrays will take, from their objects alone, and refuses a total over the limit
with one line naming the largest array and how to raise the limit. Making the
arrays takes more than the arrays (drawing one takes random bits and their
conversion, about three times the array on CPU), so ``check_program`` then
refuses a compiled program whose peak, as XLA computes it, is over the limit.

The default limit is the memory of the first JAX device (its ``bytes_limit``)
or, when JAX does not say (CPU), this machine's physical memory.

>>> from topos import R
>>> from topos.para import Param, zeros
>>> huge = {"w": Param("w", R(2**20, 2**20), zeros)}
>>> check_total_size("init", huge, max_bytes=2**30)
Traceback (most recent call last):
...
MemoryError: init: the arrays need 4.0 TiB, over the limit of 1.0 GiB; the largest is 'w' ...
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from topos.objects import Fin, R

__all__ = [
    "DECODE_UNROLL_MAX",
    "UNROLL_MAX", "check_program", "check_total_size", "device_memory", "format_bytes"]

#: A ``repeat`` of at most this many layers is unrolled (``lax.scan(unroll=True)``):
#: XLA then fuses across layers, and the train step of the demo's 2-layer
#: transformer runs ~20% faster on CPU than under a rolled loop, as fast as a
#: hand-written Python loop over layers (``benchmarks/transformer.py``). Deeper
#: stacks stay one rolled ``lax.scan``, so compile time stays flat in depth. The
#: parameters of an unrolled repeat may come one array per layer (``Unstacked``,
#: ``backends.jax.core.layout``), which XLA compiles faster than slices of a stack.
UNROLL_MAX = 4

#: ``generate`` and ``decode_step`` unroll a ``repeat`` of at most this many layers: each
#: layer's key–value cache is then its own buffer, updated in place in the loop over
#: tokens, where a scan over layers would read and write the stacked caches of every
#: layer for each token (1.2-1.5x slower per token at context 512, issue 25). The
#: compile time of a decoder grows with the layers it unrolls; deeper stacks scan.
DECODE_UNROLL_MAX = 16


def device_memory() -> int | None:
    """The memory of this process's first device in bytes, else this machine's RAM, else ``None``.

    >>> device_memory() is None or device_memory() > 2**20
    True
    """
    stats = jax.local_devices()[0].memory_stats() or {}  # addressable on every host
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """``n`` bytes for a person: ``'1.5 GiB'``.

    >>> format_bytes(512), format_bytes(3 * 2**39)
    ('512 B', '1.5 TiB')
    """
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        n /= 1024
        if n < 1024 or unit == "PiB":
            break
    return f"{n:.1f} {unit}"


def _bytes(param: Any) -> int:
    ob = getattr(param, "ob", None)
    if isinstance(ob, R):
        return math.prod(ob.shape) * jnp.dtype(ob.dtype).itemsize
    if isinstance(ob, Fin):
        return math.prod(ob.shape) * 4
    return 0


def check_total_size(what: str, params: Mapping[str, Any], max_bytes: int | None = None) -> int:
    """The bytes the arrays of ``params`` (path -> ``Param``) take; raise over the limit.

    Args:
        what: the operation, for the message (``"init"``).
        params: path -> a parameter with an ``ob`` (``R`` or ``Fin``).
        max_bytes: the limit; ``None`` for ``device_memory()``.

    Returns:
        The total in bytes.

    Raises:
        MemoryError: the total is over the limit (one line).
    """
    sizes = {path: _bytes(param) for path, param in params.items()}
    total = sum(sizes.values())
    limit = device_memory() if max_bytes is None else max_bytes
    if limit is None or total <= limit:
        return total
    raise MemoryError(
        f"{what}: the arrays need {format_bytes(total)}, over the limit of {format_bytes(limit)};"
        f" {_largest(params, sizes)}; pass max_bytes=... to allow more"
    )


def _largest(params: Mapping[str, Any], sizes: Mapping[str, int]) -> str:
    if not sizes:
        return "there are no arrays"
    path = max(sizes, key=lambda k: sizes[k])
    return f"the largest is {path!r} ({params[path].ob!r}, {format_bytes(sizes[path])})"


def check_program(
    what: str, compiled: Any, params: Mapping[str, Any], max_bytes: int | None = None
) -> int:
    """The peak bytes of a compiled program on a device, as XLA says; raise over the limit.

    The peak is the program's arguments, results and scratch
    (``compiled.memory_analysis()``); 0 where XLA does not say.

    >>> import jax
    >>> from topos import R
    >>> from topos.para import Param, normal
    >>> params = {"w": Param("w", R(256, 256), normal(1.0))}
    >>> draw = jax.jit(lambda k: jax.random.normal(k, (256, 256))).lower(jax.random.key(0))
    >>> check_program("init", draw.compile(), params, max_bytes=2**18)
    Traceback (most recent call last):
    ...
    MemoryError: init: the arrays need 256.0 KiB, but making them takes ... over the limit of ...

    Args:
        what: the operation, for the message (``"init"``).
        compiled: a compiled JAX program (``jax.jit(f).lower(...).compile()``).
        params: path -> a parameter with an ``ob``: the arrays the program makes.
        max_bytes: the limit; ``None`` for ``device_memory()``.

    Returns:
        The peak in bytes.

    Raises:
        MemoryError: the peak is over the limit (one line).
    """
    try:
        stats = compiled.memory_analysis()
    except (NotImplementedError, RuntimeError):  # a backend that does not say
        return 0
    if stats is None:
        return 0
    out, temp = stats.output_size_in_bytes, stats.temp_size_in_bytes
    peak = int(stats.argument_size_in_bytes + out + temp)
    limit = device_memory() if max_bytes is None else max_bytes
    if limit is None or peak <= limit:
        return peak
    sizes = {path: _bytes(param) for path, param in params.items()}
    raise MemoryError(
        f"{what}: the arrays need {format_bytes(out)}, but making them takes"
        f" {format_bytes(peak)} (XLA's figure, {format_bytes(temp)} of it scratch), over the"
        f" limit of {format_bytes(limit)}; {_largest(params, sizes)}; pass max_bytes=... to"
        " allow more"
    )
