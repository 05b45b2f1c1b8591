"""Equality saturation of tensor terms with ``egglog``, and extraction by cost.

The laws of a ``Theory`` that ``saturate`` become egglog rewrites (both
the directions the law names); the terms' regions go in as one e-graph whose
leaves are the opaque nodes; saturation runs one iteration at a time within a
budget; extraction picks, per e-class, the node of least cost under a shape-aware
cost model (computed here in Python: the e-graph is read back with
``EGraph.freeze``). Only egglog's Rust bindings are loaded, and only when
saturation runs.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from topos.rewrite.cost import CostModel
from topos.rewrite.terms import ALGEBRA, Term, algebra, nodes
from topos.rewrite.theory import Pattern, Theory, show

__all__ = ["Budget", "Saturation", "saturate", "term_cost"]

_DATATYPE = (
    "(datatype T (Leaf i64) (MM T T) (Tr T) (Add T T) (Scale f64 T) (Mul T T) (Exp T)"
    " (SumRows T) (SumCols T) (Bcast i64 T) (Softmax T))"
)


@dataclass(frozen=True)
class Budget:
    """How far saturation may go: iterations of all rules, seconds, and e-nodes.

    Each limit is checked between iterations.
    """

    iterations: int = 12
    seconds: float = 1.0
    enodes: int = 20_000


@dataclass
class Saturation:
    """What a run did: the cheapest equal term per root, and the work done."""

    best: dict[int, Term]
    iterations: int = 0
    saturated: bool = False
    seconds: float = 0.0
    eclasses: int = 0
    enodes: int = 0
    matches: dict[str, int] = field(default_factory=dict)


def term_cost(roots: list[Term], cost: CostModel) -> int:
    """The cost of the DAG under ``roots``, each node counted once."""
    return sum(cost(t.op, [a.ob for a in t.args], t.ob) for t in nodes(roots))


def _variables(p: Pattern, out: set[str]) -> set[str]:
    if isinstance(p, tuple):
        for x in p[1:]:
            _variables(x, out)
    elif isinstance(p, str):
        out.add(p)
    return out


def rules(theory: Theory) -> dict[str, str]:
    """The egglog rewrites of the theory's saturating laws, each with its law's name.

    >>> from topos.rewrite.theory import LINEAR_ALGEBRA
    >>> rules(LINEAR_ALGEBRA)["(rewrite (MM (MM a b) c) (MM a (MM b c)) :ruleset laws)"]
    'mm-assoc'
    >>> rules(LINEAR_ALGEBRA)["(rewrite (Add (MM a c) (MM b c)) (MM (Add a b) c) :ruleset laws)"]
    'mm-add-left'
    """
    out: dict[str, str] = {}
    for law in theory.tensor_laws():
        lhs, rhs = law.sides
        if law.saturate in ("both", "forward"):
            out[f"(rewrite {show(lhs)} {show(rhs)} :ruleset laws)"] = law.name
        if law.saturate in ("both", "backward") and _variables(lhs, set()) <= _variables(
            rhs, set()
        ):
            out[f"(rewrite {show(rhs)} {show(lhs)} :ruleset laws)"] = law.name
    return out


def _literal(t: Term) -> str:
    return repr(float(t.data)) if t.op == "Scale" else str(int(t.data))


def saturate(roots: list[Term], theory: Theory, cost: CostModel, budget: Budget) -> Saturation:
    """The cheapest term equal to each root by ``theory``; non-algebra nodes are leaves."""
    start = time.perf_counter()
    egraph = _bindings().EGraph()
    law_of = rules(theory)
    program = [_DATATYPE, "(ruleset laws)", *law_of]
    leaves: list[Term] = []
    names: dict[int, str] = {}
    for t in _region(roots):
        if t.op not in ALGEBRA:
            names[id(t)] = f"(Leaf {len(leaves)})"
            leaves.append(t)
            continue
        kids = " ".join(names[id(a)] for a in t.args)
        data = f"{_literal(t)} " if t.op in ("Scale", "Bcast") else ""
        names[id(t)] = f"$n{len(names)}"
        program.append(f"(let {names[id(t)]} ({t.op} {data}{kids}))")
    egraph.run_program(*egraph.parse_program("\n".join(program)))
    out = Saturation(best={})
    for i in range(budget.iterations):
        if time.perf_counter() - start > budget.seconds:
            break
        (ran,) = egraph.run_program(*egraph.parse_program("(run laws 1)"))
        report = ran.report
        out.iterations = i + 1
        for rule, n in report.num_matches_per_rule.items():
            if n and rule in law_of:
                out.matches[law_of[rule]] = out.matches.get(law_of[rule], 0) + n
        if not report.updated:
            out.saturated = True
            break
        (size,) = egraph.run_program(*egraph.parse_program("(print-size)"))
        if sum(n for name, n in size.sizes if name in ALGEBRA) > budget.enodes:
            break
    frozen = egraph.freeze()
    classes = _classes(egraph, frozen)
    out.eclasses, out.enodes = len(classes), sum(len(v) for v in classes.values())
    chosen = _extract(classes, leaves, cost)
    root_class = _root_classes(frozen, roots, names)
    for r in roots:
        out.best[id(r)] = chosen[root_class[id(r)]] if id(r) in root_class else r
    out.seconds = time.perf_counter() - start
    return out


@functools.cache
def _bindings() -> Any:
    """egglog's Rust extension alone (0.1 s), not its Python layer (seconds: it loads black).

    Registered as ``egglog.bindings``, so a later ``import egglog`` reuses it.
    """
    if "egglog.bindings" in sys.modules:
        return sys.modules["egglog.bindings"]
    spec = importlib.util.find_spec("egglog")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "optimize needs egglog: pip install 'topos[optimize]' (or pip install egglog)"
        )
    folder = os.path.dirname(spec.origin)
    found = [
        f for f in os.listdir(folder) if f.startswith("bindings") and f.endswith((".so", ".pyd"))
    ]
    if not found:
        from egglog import bindings  # noqa: PLC0415 - an unusual layout: the normal import

        return bindings
    path = os.path.join(folder, found[0])
    loader = importlib.machinery.ExtensionFileLoader("egglog.bindings", path)
    module_spec = importlib.util.spec_from_file_location("egglog.bindings", path, loader=loader)
    assert module_spec is not None
    module = importlib.util.module_from_spec(module_spec)
    loader.exec_module(module)
    sys.modules["egglog.bindings"] = module
    return module


def _region(roots: list[Term]) -> list[Term]:
    """The algebra nodes under ``roots`` and the leaves where they stop, in order."""
    return nodes(roots, enter=lambda t: t.op in ALGEBRA)


Node = tuple[str, Any, tuple[Any, ...]]


def _classes(egraph: Any, frozen: Any) -> dict[Any, list[Node]]:
    classes: dict[Any, list[Node]] = {}
    for name, fn in frozen.functions.items():
        if fn.is_let_binding or name not in ALGEBRA + ("Leaf",):
            continue
        for row in fn.rows:
            if row.subsumed:
                continue
            data: Any = None
            kids: list[Any] = []
            for sort, v in zip(fn.input_sorts, row.inputs, strict=True):
                if sort == "i64":
                    data = egraph.value_to_i64(v)
                elif sort == "f64":
                    data = egraph.value_to_f64(v)
                else:
                    kids.append(v)
            classes.setdefault(row.output, []).append((name, data, tuple(kids)))
    return classes


def _extract(
    classes: dict[Any, list[Node]], leaves: list[Term], cost: CostModel
) -> dict[Any, Term]:
    """The cheapest term of every e-class (tree cost, Bellman-Ford to a fixpoint)."""
    best: dict[Any, tuple[int, Term]] = {}
    changed = True
    while changed:
        changed = False
        for cls, members in classes.items():
            for op, data, kids in members:
                if any(k not in best for k in kids):
                    continue
                if op == "Leaf":
                    term, price = leaves[data], 0
                else:
                    term = algebra(op, data, *(best[k][1] for k in kids))
                    own = cost(op, [a.ob for a in term.args], term.ob)
                    price = own + sum(best[k][0] for k in kids)
                if cls not in best or price < best[cls][0]:
                    best[cls] = (price, term)
                    changed = True
    return {cls: term for cls, (_, term) in best.items()}


def _root_classes(frozen: Any, roots: list[Term], names: dict[int, str]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    lets = frozen.functions
    for r in roots:
        name = names.get(id(r), "")
        if name.startswith("$") and name in lets:
            (row,) = lets[name].rows
            out[id(r)] = row.output
    return out
