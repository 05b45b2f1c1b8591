"""How long ``topos.draw.draw`` takes on deep models (run: ``python benchmarks/drawing.py``).

Two 24-layer models:

- a synthetic chain of 24 named sub-diagrams (``group``), each a pre-norm
  transformer block built from boxes: attention as choose ; ev, an MLP, residuals;
- the real ``topos.nn`` decoder with 24 blocks written out (``block.named(str(i))``
  composed 24 times), when ``topos.nn`` is available.

Each is drawn at block level (``depth=0``: every block one box), one level
deeper, and fully expanded; the best of several runs is reported, with the
size of the SVG and the number of boxes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from topos import Box, Id, R, copy, curry, ev  # noqa: E402
from topos.draw import draw, group  # noqa: E402


def synthetic_block(seq: int = 16, d: int = 64, name: str = "block") -> Any:
    x, a = R(seq, d), R(seq, seq)
    norm = group("ln", Box("layer_norm", x, x))
    choose = group("choose", copy(x) >> Box("q", x, x) * Box("k", x, x) >> Box("scores", x * x, a))
    attn = copy(x) >> (choose >> curry(Box("mix", a * x, x))) * Box("v", x, x) >> ev(x, x)
    attn = group("attn", attn >> Box("o", x, x))
    mlp = group("mlp", Box("fc1", x, R(seq, 4 * d)) >> Box("gelu", R(seq, 4 * d), R(seq, 4 * d)))
    mlp = group("mlp", mlp.body >> Box("fc2", R(seq, 4 * d), x))

    def residual(f: Any) -> Any:
        return copy(x) >> Id(x) * f >> Box("add", x * x, x)

    return group(name, residual(norm >> attn) >> residual(norm >> mlp))


def best(f: Any, depth: int | None, runs: int = 5) -> tuple[float, int, int]:
    times = []
    svg = ""
    for _ in range(runs):
        t0 = time.perf_counter()
        svg = draw(f, depth=depth)
        times.append(time.perf_counter() - t0)
    return min(times), len(svg), svg.count('class="box ')


def report(title: str, f: Any, depths: list[int | None]) -> None:
    print(title)
    for depth in depths:
        seconds, size, boxes = best(f, depth)
        print(
            f"  depth={depth!s:<5} {seconds * 1000:8.1f} ms   {size / 1000:8.1f} kB   {boxes} boxes"
        )


def main() -> None:
    chain = synthetic_block(name="block0")
    for i in range(1, 24):
        chain = chain >> synthetic_block(name=f"block{i}")
    report("synthetic: 24 named transformer blocks", chain, [0, 1, None])
    try:
        from topos import nn
    except ImportError:
        print("topos.nn not available: skipping the real decoder")
        return
    seq, d = 16, 64
    block = nn.transformer_block(seq, d, 4)
    lm = nn.embedding(65, d, lead=(seq,)) >> nn.positional(seq, d)
    for i in range(24):
        lm = lm >> block.named(str(i))
    lm = lm >> nn.layer_norm(d, lead=(seq,), name="ln_f") >> nn.linear(d, 65, lead=(seq,))
    report("topos.nn: 24-block decoder, blocks written out", lm, [0, 1, 2, None])
    lm = nn.transformer(65, seq, d, 4, 24)
    report("topos.nn.transformer (24 layers as one repeat)", lm, [0, 1, None])


if __name__ == "__main__":
    main()
