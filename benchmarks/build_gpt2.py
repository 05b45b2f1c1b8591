"""Time to build GPT-2 medium's diagram and its parameter shapes, without weights.

Builds ``topos.nn.zoo.gpt2("medium")`` (24 layers, d = 1024, tied head: 354,823,168
parameters) and reads every parameter's shape from ``parameters()``; no array is
allocated. Reports the first build in this process (imports already done) and the
best and median of ``--repeat`` further builds, each from scratch.

    .venv/bin/python benchmarks/build_gpt2.py [--size medium --repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from topos.nn.zoo import PUBLISHED, gpt2  # noqa: E402 - after the path is set


def build(size: str) -> tuple[int, dict[str, tuple[int, ...]]]:
    """The model's parameter count and ``path -> shape``."""
    model = gpt2(size)
    shapes = {path: getattr(p.ob, "shape", ()) for path, p in model.parameters().items()}
    return model.num_params(), shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="medium")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    t0 = time.perf_counter()
    count, shapes = build(args.size)
    first = time.perf_counter() - t0
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        build(args.size)
        times.append(time.perf_counter() - t0)
    published = PUBLISHED[f"gpt2-{args.size}"]
    print(f"gpt2-{args.size}: {count:,} parameters (published {published:,}), {len(shapes)} leaves")
    print(f"first build  {first * 1e3:8.1f} ms")
    print(f"best         {min(times) * 1e3:8.1f} ms")
    print(f"median       {statistics.median(times) * 1e3:8.1f} ms  (of {args.repeat})")
    print(f"worst        {max(times) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
