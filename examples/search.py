"""Architecture search in the typed space of diagrams: does living in the topos completion matter?

Candidates are drawn from the grammar of ``topos.nn.grammar`` (compose, product,
residual, repeat over MLP, token-mixing, linear-attention and softmax-attention
blocks), half from the first-order leaves only, half with at least one choose ; ev
leaf. Each is classified by ``analyze`` (PL pretopos or topos completion), counted
in parameters and trained briefly on in-context regression and associative recall
(``backends.jax.experiments.search``). Results go to ``OUT/results.jsonl`` as they come: run
again with the same ``--out`` to resume. Prints the table of the best candidate of
each kind per parameter budget, and writes ``search.png`` (test loss vs parameters).

    python examples/search.py --candidates 64 --out out/search
    python examples/search.py --candidates 8 --steps 100 --out runs/s   # a quick look
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from backends.jax.experiments.search import TASKS, search

KINDS = ("PL pretopos", "topos completion")
#: Parameter budgets (upper bounds) of the table's rows.
BUDGETS = (1_000, 3_000, 10_000, 100_000)


def _mean(v: list[float]) -> float:
    return sum(v) / len(v)


def _score(r: dict[str, Any], task: str) -> float:
    """The mean score over seeds; a run that diverged (NaN) ranks last (``inf``)."""
    m = _mean(r["scores"][task])
    return m if math.isfinite(m) else math.inf


def _cell(r: dict[str, Any] | None, task: str) -> str:
    if r is None:
        return "—"
    v = r["scores"][task]
    if not math.isfinite(_score(r, task)):
        return f"diverged ({r['params']} p: {r['show']})"
    spread = f" ± {statistics.pstdev(v):.3f}" if len(v) > 1 else ""
    return f"{_mean(v):.3f}{spread} ({r['params']} p: {r['show']})"


def table(rows: list[dict[str, Any]]) -> str:
    """Per task and parameter budget, the best candidate of each kind (mean ± std over seeds).

    A candidate whose training diverged (a NaN score on some seed) ranks last.
    """
    lines = []
    for task in TASKS:
        lines += [
            f"\n**{task}** (test loss / loss of predicting 0; lower is better)\n",
            "| params ≤ | n (PL / topos) | best PL pretopos | best topos completion |",
            "|---|---|---|---|",
        ]
        low = 0
        for high in BUDGETS:
            group = [r for r in rows if low < r["params"] <= high]
            best: dict[str, dict[str, Any] | None] = {}
            counts = []
            for kind in KINDS:
                mine = [r for r in group if r["lives_in"] == kind]
                counts.append(str(len(mine)))
                best[kind] = min(mine, key=lambda r: _score(r, task), default=None)
            lines.append(
                f"| {high:,} | {' / '.join(counts)} | {_cell(best[KINDS[0]], task)}"
                f" | {_cell(best[KINDS[1]], task)} |"
            )
            low = high
        med = [
            statistics.median(_score(r, task) for r in rows if r["lives_in"] == k)
            if any(r["lives_in"] == k for r in rows)
            else math.nan
            for k in KINDS
        ]
        lines.append(f"| all | median | {med[0]:.3f} | {med[1]:.3f} |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """``path``: test loss vs parameters per task, coloured by where the candidate lives."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TASKS), figsize=(10, 3.8), sharey=True)
    for ax, task in zip(axes, TASKS, strict=True):
        for kind, color in zip(KINDS, ("C0", "C3"), strict=True):
            mine = [r for r in rows if r["lives_in"] == kind]
            diverged = [r for r in mine if not math.isfinite(_score(r, task))]
            label = f"{kind} ({len(diverged)} diverged, not shown)" if diverged else kind
            mine = [r for r in mine if r not in diverged]
            xs = [r["params"] for r in mine]
            ys = [_mean(r["scores"][task]) for r in mine]
            errs = [statistics.pstdev(r["scores"][task]) for r in mine]
            ax.errorbar(xs, ys, yerr=errs, fmt="o", color=color, alpha=0.75, ms=4, label=label)
        ax.set(xscale="log", xlabel="parameters", title=task)
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    axes[0].set_ylabel("test loss / loss of predicting 0")
    for ax in axes:
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python examples/search.py [--candidates N] [--out DIR] ...``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/search"))
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = search(
        args.out,
        candidates=args.candidates,
        seed=args.seed,
        steps=args.steps,
        seeds=args.seeds,
        batch=args.batch,
        learning_rate=args.lr,
    )
    print(table(rows))
    print(f"\nwrote {plot(rows, args.out / 'search.png')}")
    spent = sum(r["seconds"] for r in rows)
    distinct = sum("same_as" not in r for r in rows)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"timing: {time.perf_counter() - t0:.0f} s this run; {spent:.0f} s of training"
          f" over {len(rows)} candidates ({distinct} distinct; seeds {list(range(args.seeds))},"
          f" search seed {args.seed}, {args.steps} steps); load average {load}"
          f" on {os.cpu_count()} cores")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
