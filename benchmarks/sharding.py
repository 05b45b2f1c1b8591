"""Per-device parameter memory under the sharding rules, from shapes only.

    python benchmarks/sharding.py

For each model, ``jax.eval_shape`` gives the parameters' shapes (nothing is
allocated) and ``backends.jax.core.sharding.param_shardings`` their shardings on an
``abstract_mesh`` of 8 devices (a mesh shape; no device is needed); the bytes one
device holds are the sum of the shard shapes. Printed: the single-device figure,
the per-device figure on each mesh, and its ratio to the single-device one (the
goal on ``1x8``: at most 1/8 + 5%, i.e. 0.13125). Importing this module does nothing.
"""

from __future__ import annotations

import os
import sys
from typing import Any

MODELS = {
    # name: (vocab, seq, d, heads, layers)
    "demo (vocab 97)": (97, 128, 128, 4, 2),
    "GPT-2 small (vocab 50257)": (50257, 1024, 768, 12, 12),
    "GPT-2 small (vocab 50304, nanoGPT)": (50304, 1024, 768, 12, 12),
}
MESHES = ("8x1", "4x2", "2x4", "1x8")
BUDGET = 1 / 8 * 1.05


def figures(vocab: int, seq: int, d: int, heads: int, layers: int) -> dict[str, Any]:
    """Single-device and per-device parameter bytes of ``transformer(...)`` per mesh."""
    import functools

    import jax

    from backends.jax import init, sharding
    from topos import nn

    p = nn.transformer(vocab=vocab, seq=seq, d=d, heads=heads, layers=layers)
    shapes = jax.eval_shape(functools.partial(init, p), jax.random.key(0))
    whole = sharding.param_bytes(shapes)
    out: dict[str, Any] = {"params": sum(x.size for x in shapes.values()), "bytes": whole}
    for shape in MESHES:
        for name, rules in (("megatron", sharding.MEGATRON), ("fsdp", sharding.FSDP)):
            s = sharding.param_shardings(p, sharding.abstract_mesh(shape), rules)
            out[f"{shape} {name}"] = sharding.param_bytes(shapes, s) / whole
    return out


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cols = [f"{m} {r}" for m in MESHES for r in ("megatron", "fsdp")]
    print("per-device parameter bytes / single-device bytes (1/8 = 0.125; goal on 1x8 <= 0.13125)")
    print("| model | parameters | single device | " + " | ".join(cols) + " |")
    print("|---|---:|---:|" + "---:|" * len(cols))
    for name, dims in MODELS.items():
        f = figures(*dims)
        row = " | ".join(f"{f[c]:.4f}" for c in cols)
        print(f"| {name} | {f['params']:,} | {f['bytes'] / 2**20:.1f} MiB | {row} |")
        ok = f["1x8 megatron"] <= BUDGET
        print(f"  1x8 megatron: {f['1x8 megatron']:.4f} {'<=' if ok else '>'} {BUDGET:.5f}")


if __name__ == "__main__":
    main()
