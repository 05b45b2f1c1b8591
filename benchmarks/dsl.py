"""How fast the pure core is on big diagrams (run: ``python benchmarks/dsl.py [--quick]``).

Measured, best of a few runs each:

- building a chain of 100,000 boxes one ``>>`` at a time (DisCoPy 1.2.2 takes
  173 s for 10,000);
- normalising 10,000-node terms: a chain of boxes, a balanced tree of pairs and
  compositions, and a chain of higher-order and case-analysis β-redexes;
- ``equal`` on two 100,000-box chains built differently (two normalisations);
- a JSON round trip (``topos.serial``) of the 100,000-box chain.

Prints a markdown table. ``--quick`` runs a smoke test at a tenth of the sizes.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from topos import R, equal  # noqa: E402
from topos.arrows import Arrow, Box, Id, compose, copair, curry, ev, fold, fst, inl, pair  # noqa: E402
from topos.normal import normal_form  # noqa: E402

A = R(8)


def best(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The shortest wall time of ``repeat`` runs, and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t0)
    return min(times), out


def nodes(f: Arrow) -> int:
    """Distinct nodes of a diagram (a chain counts its links and itself)."""
    return fold(f, lambda node, kids: 1 + sum(kids))


def boxes(n: int, prefix: str = "f") -> list[Box]:
    return [Box(f"{prefix}{i}", A, A) for i in range(n)]


def chain_one_at_a_time(links: list[Box]) -> Arrow:
    out: Arrow = links[0]
    for b in links[1:]:
        out = out >> b
    return out


def balanced(leaves: int) -> Arrow:
    """A balanced tree: leaves are boxes, each inner node ``pair(l, r) >> join``."""
    layer: list[Arrow] = boxes(leaves, "leaf")
    joins = 0
    while len(layer) > 1:
        nxt: list[Arrow] = []
        for i in range(0, len(layer) - 1, 2):
            nxt.append(pair(layer[i], layer[i + 1]) >> Box(f"join{joins}", A * A, A))
            joins += 1
        if len(layer) % 2:
            nxt.append(layer[-1])
        layer = nxt
    return layer[0]


def redexes(n: int) -> Arrow:
    """A chain of β-redexes for exponentials and coproducts, ``n`` links."""
    links: list[Arrow] = []
    for i in range(n):
        k = Box(f"k{i}", A, A)
        if i % 2:
            links.append(pair(curry(fst(A, A) >> k), Id(A)) >> ev(A, A))
        else:
            links.append(inl(A, A) >> copair(k, Box(f"unused{i}", A, A)))
    return compose(*links)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test at a tenth of the sizes")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    repeat = 1 if args.quick else 3
    big, mid = 100_000 // scale, 10_000 // scale

    rows: list[tuple[str, str, float]] = []
    seconds, links = best(lambda: boxes(big), repeat)
    rows.append((f"create {big:,} boxes", f"{big:,} boxes", seconds))
    seconds, chain = best(lambda: chain_one_at_a_time(links), repeat)
    rows.append((f"build a {big:,}-box chain one `>>` at a time", f"{big:,} boxes", seconds))

    terms = {
        "chain of boxes": chain_one_at_a_time(links[:mid]),
        "balanced pairs and compositions": balanced(mid // 4 + 1),
        "β-redexes: curry/ev and inl/copair": redexes(mid // 6),
    }
    for name, term in terms.items():
        seconds, _ = best(lambda term=term: normal_form(term), repeat)
        rows.append((f"normalise: {name}", f"{nodes(term):,} nodes", seconds))

    other = pair(compose(*links), Id(A)) >> fst(A, A)  # equal, not structurally equal
    seconds, same = best(lambda: equal(chain, other), repeat)
    assert same, "equal failed on two equal chains"
    rows.append((f"`equal` on two {big:,}-box chains", "2 normalisations", seconds))

    try:
        from topos import serial
    except ImportError:
        print("topos.serial is not there yet: skipping the JSON round trip")
    else:
        seconds, text = best(lambda: serial.dumps(chain), repeat)
        rows.append((f"JSON dumps of the {big:,}-box chain", f"{len(text) / 1e6:.1f} MB", seconds))
        seconds, back = best(lambda: serial.loads(text), repeat)
        assert back == chain, "JSON round trip changed the chain"
        rows.append((f"JSON loads of the {big:,}-box chain", f"{len(text) / 1e6:.1f} MB", seconds))

    command = f"python benchmarks/dsl.py{' --quick' if args.quick else ''}"
    print(f"Command: `{command}` (best of {repeat}; Python {platform.python_version()},")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})\n")
    print("| what | size | time |")
    print("|---|---|---:|")
    for what, size, secs in rows:
        print(f"| {what} | {size} | {secs * 1000:,.1f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
