"""``optimize(f)``: the cheapest diagram equal to ``f`` by declared laws, with a certificate.

The diagram is read as tensor terms (``topos.rewrite.terms``: the structural
laws, copy and discard, hold by construction), each maximal region of
term-language operations is saturated with the laws of the theory
(``topos.rewrite.saturate``, egglog), the cheapest equal term is extracted by a
cost model (``"flops"`` or ``"bytes"``) and the result is written back as a
diagram. A repeat's body is optimised once. If nothing gets cheaper, ``f``
itself comes back.

``min_gain`` rewrites a region only when its modeled cost falls at least that
many times (1: any saving, the default here). The cost models count flops or
bytes, not how fast XLA runs a given shape, and a small modeled saving can be a
real loss: the zoo's GCN rewritten from ``(A H) W`` to ``A (H W)`` saves 950 ->
650 flops per example but runs 1.5-1.8x slower batched (``benchmarks/optimize.py``),
since the rewrite trades one product with a shared weight for per-example
products two columns wide. So what runs a rewritten program (``compile(f,
optimize=True)``, ``backends.jax.optimized``, ``fit(..., optimize=True)``) asks
for ``RUN_MIN_GAIN`` (2).

>>> from topos import R, pair, fst, snd, copy
>>> from topos.nn import primitives as P
>>> n, d = 512, 16
>>> q = k = v = R(n, d)
>>> qkv = q * k * v
>>> scores = pair(fst(q * k, v) >> fst(q, k), fst(q * k, v) >> snd(q, k)) >> P.einsum(
...     "sd,td->st", q, k)
>>> attn = pair(scores, snd(q * k, v)) >> P.einsum("st,td->sd", R(n, n), v)
>>> result = optimize(attn)
>>> print(result.certificate.steps[0])
(MM (MM x.0.0 (Tr x.0.1)) x.1) => (MM x.0.0 (MM (Tr x.0.1) x.1))  by mm-assoc (1 law instance(s))
    mm-assoc at root: (MM (MM x.0.0 (Tr x.0.1)) x.1) -> (MM x.0.0 (MM (Tr x.0.1) x.1))
>>> result.certificate.cost_before, result.certificate.cost_after
(16785408, 532480)
>>> check(result.certificate, attn, result.arrow)
True
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from topos.arrows import Arrow, Repeat
from topos.errors import not_a
from topos.rewrite.cost import COSTS, CostModel
from topos.rewrite.fold import fold_steps, is_instance
from topos.rewrite.polynomial import Canon, equal_modulo
from topos.rewrite.saturate import Budget, saturate, term_cost
from topos.rewrite.structure import repeat_body, with_body
from topos.rewrite.terms import ALGEBRA, NotATensorTerm, Term, algebra, nodes, read, write
from topos.rewrite.theory import LINEAR_ALGEBRA, Theory
from topos.rewrite.trace import Rewrite, checks, find_trace, scalars_ok

__all__ = ["RUN_MIN_GAIN", "Certificate", "Optimized", "Step", "check", "optimize"]

#: The ``min_gain`` of the backends' ``optimize=True``: a region is rewritten for a
#: program that runs only when the cost model says it is at least twice as cheap.
RUN_MIN_GAIN = 2.0

#: The law that folds materialised attention over key blocks (``topos.rewrite.fold``).
FOLD = "softmax-fold"


@dataclass(frozen=True)
class Step:
    """One region rewritten: the term ``before`` became ``after`` by the named laws.

    ``body`` is set when the step replaces a repeat's body by its optimised form
    (``before``/``after`` are then the repeat boxes' terms) and holds that
    body's own certificate.
    """

    before: Term
    after: Term
    laws: tuple[str, ...]
    body: Certificate | None = None
    trace: tuple[Rewrite, ...] = ()

    def __str__(self) -> str:
        if self.body is not None:
            return f"repeat body optimised ({len(self.body.steps)} steps)"
        how = f"{len(self.trace)} law instance(s)" if self.trace else "normal forms"
        if FOLD in self.laws:
            how = "the online-softmax monoid, topos.rewrite.fold.certify"
        lines = [f"{self.before} => {self.after}  by {', '.join(self.laws)} ({how})"]
        return "\n".join(lines + [f"    {r}" for r in self.trace])


@dataclass(frozen=True)
class Certificate:
    """Why ``optimize(f).arrow`` equals ``f``: the rewritten regions and what saturation did."""

    theory: Theory
    cost: str
    steps: tuple[Step, ...]
    cost_before: int
    cost_after: int
    iterations: int = 0
    saturated: bool = False
    seconds: float = 0.0
    eclasses: int = 0
    matches: dict[str, int] = field(default_factory=dict)
    note: str = ""
    bodies: tuple[Certificate, ...] = ()

    @property
    def laws(self) -> tuple[str, ...]:
        """The laws the steps use (those of repeat bodies included), each once."""
        names = [law for s in self.steps for law in s.laws]
        names += [law for s in self.steps if s.body is not None for law in s.body.laws]
        return tuple(dict.fromkeys(names))

    @property
    def assumes(self) -> dict[str, str]:
        """The side conditions (``Law.side``) the rewrite relies on, by law.

        The rewritten diagram computes what ``f`` does, up to rounding, where
        these hold: for a law with the side ``FINITE``, on finite entries with
        nothing overflowing.
        """
        sides = {name: self.theory[name].side for name in self.laws if name in self.theory.names()}
        return {name: side for name, side in sides.items() if side}

    def __str__(self) -> str:
        lines = [
            f"{len(self.steps)} region(s) rewritten by {self.theory.name};"
            f" {self.cost} {self.cost_before} -> {self.cost_after};"
            f" {self.iterations} iteration(s), {'saturated' if self.saturated else 'budget hit'},"
            f" {self.eclasses} e-classes, {self.seconds:.3f} s"
        ]
        if self.note:
            lines.append(self.note)
        lines += [f"  {s}" for s in self.steps]
        for body in self.bodies:
            lines += ["  repeat body: " + str(body).replace("\n", "\n  ")]
        return "\n".join(lines)


@dataclass(frozen=True)
class Optimized:
    """The result of ``optimize``: the diagram and its certificate."""

    arrow: Arrow
    certificate: Certificate


def optimize(
    f: Arrow,
    cost: str | CostModel = "flops",
    *,
    theory: Theory = LINEAR_ALGEBRA,
    budget: Budget | None = None,
    min_gain: float = 1.0,
    memory_budget: int | None = None,
    block: int = 512,
) -> Optimized:
    """The cheapest diagram equal to ``f`` by the laws of ``theory``, and a certificate.

    Args:
        f: the arrow to optimise (a ``Para``'s ``.arrow`` for a model).
        cost: ``"flops"``, ``"bytes"`` or a ``CostModel`` function.
        theory: the equational theory whose saturating laws are run.
        budget: saturation limits (iterations, seconds); ``Budget()`` by default.
        min_gain: rewrite a region only when its cost falls at least this many
            times (a number >= 1; see the module docstring).
        memory_budget: bytes one example's attention scores may take; a
            materialised attention (``topos.nn.self_attention``) whose scores take
            more is rewritten by the law ``softmax-fold`` into a fold over key
            blocks (``topos.rewrite.fold``), whatever the cost model says.
            ``None`` (the default): never.
        block: the key (and query) block length of those folds.

    Returns:
        ``Optimized(arrow, certificate)``; ``arrow is f`` when nothing is cheaper.
    """
    if not isinstance(f, Arrow):
        raise not_a("optimize", "an arrow (a Para's .arrow for a model)", f)
    if isinstance(cost, str) and cost not in COSTS:
        raise ValueError(f"optimize: unknown cost {cost!r}, expected one of {sorted(COSTS)}")
    if not isinstance(cost, str) and not callable(cost):
        raise not_a("optimize", f"a cost name {sorted(COSTS)} or a CostModel function", cost)
    if not isinstance(theory, Theory):
        raise not_a("optimize", "a Theory", theory)
    if budget is not None and not isinstance(budget, Budget):
        raise not_a("optimize", "a Budget", budget)
    model = COSTS[cost] if isinstance(cost, str) else cost
    name = cost if isinstance(cost, str) else getattr(cost, "__name__", "custom")
    if (
        isinstance(min_gain, bool)
        or not isinstance(min_gain, (int, float))
        or not min_gain >= 1  # also refuses nan
        or min_gain == float("inf")
    ):
        raise ValueError(f"optimize: min_gain must be a finite number >= 1, got {min_gain!r}")
    if memory_budget is not None and not _count(memory_budget, 0):
        raise ValueError(
            f"optimize: memory_budget must be an int >= 0 (bytes), got {memory_budget!r}"
        )
    if not _count(block, 1):
        raise ValueError(f"optimize: block must be an int >= 1, got {block!r}")
    memory = (memory_budget, block)
    return _Optimizer(theory, model, name, budget or Budget(), float(min_gain), memory).run(f)


def _count(n: object, least: int) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= least


class _Optimizer:
    def __init__(
        self,
        theory: Theory,
        cost: CostModel,
        name: str,
        budget: Budget,
        min_gain: float,
        memory: tuple[int | None, int] = (None, 512),
    ) -> None:
        self.theory, self.cost, self.name, self.budget = theory, cost, name, budget
        self.min_gain = min_gain
        self.bodies: dict[Arrow, Optimized] = {}
        self.memory = memory  # (memory_budget, block) of softmax-fold

    def unchanged(self, f: Arrow, note: str, price: int = 0) -> Optimized:
        cert = Certificate(self.theory, self.name, (), price, price, note=note)
        return Optimized(f, cert)

    def run(self, f: Arrow) -> Optimized:
        start = time.perf_counter()
        try:
            out = read(f)
        except NotATensorTerm as e:
            return self.unchanged(f, f"not optimised: {e}")
        roots = _outputs(out)
        before = term_cost(roots, self.cost)
        steps: list[Step] = []
        regions = _regions(roots)
        sat = saturate(regions, self.theory, self.cost, self.budget)
        swap: dict[int, Term] = {}
        declined = refused = 0  # cheaper by less than min_gain; not certified: both kept
        for r in regions:
            new = sat.best[id(r)]
            new_cost, old_cost = term_cost([new], self.cost), term_cost([r], self.cost)
            if new is r or new_cost >= old_cost:
                continue
            if old_cost < self.min_gain * new_cost:
                declined += 1
                continue
            step = self.step(r, new, sat.matches)
            if not _certified(step, self.theory):
                refused += 1
                continue
            swap[id(r)] = new
            steps.append(step)
        bodies: list[Certificate] = []
        for t in nodes(roots):
            rep = repeat_body(t.data) if t.op == "box" else None
            if rep is None:
                continue
            inner = self.body(rep[0])
            bodies.append(inner.certificate)
            if inner.arrow is not rep[0]:
                assert isinstance(t.data, Repeat)
                new_box = Term("box", with_body(t.data, inner.arrow), t.args, t.ob)
                swap[id(t)] = new_box
                steps.append(Step(t, new_box, (), inner.certificate))
        new_out = substitute(out, swap)
        folds = 0
        memory_budget, block = self.memory
        if memory_budget is not None:  # softmax-fold where the scores exceed the budget
            found = fold_steps(_outputs(new_out), memory_budget, block)
            steps += [Step(b, a, (FOLD,)) for b, a in found.values()]
            new_out = substitute(new_out, {k: a for k, (_, a) in found.items()})
            folds = len(found)
        after = term_cost(_outputs(new_out), self.cost)
        cert = Certificate(
            self.theory,
            self.name,
            tuple(steps),
            before,
            after,
            sat.iterations,
            sat.saturated,
            time.perf_counter() - start,
            sat.eclasses,
            dict(sat.matches),
            bodies=tuple(bodies),
        )
        if refused:
            cert = replace(cert, note=f"{refused} region(s) whose rewrite did not check: kept")
        if not steps or (after >= before and not folds and not any(s.body for s in steps)):
            note = "no cheaper equal form found"
            if declined:
                note = f"{declined} region(s) cheaper by less than min_gain {self.min_gain:g}: kept"
            kept = replace(cert, steps=(), cost_after=before, note=cert.note or note)
            return Optimized(f, kept)
        g = write(f.dom, new_out)
        if not check(cert, f, g):  # never hand back what the checker refuses
            note = "the rewritten diagram did not check against its certificate: kept"
            return Optimized(f, replace(cert, steps=(), cost_after=before, note=note))
        return Optimized(g, cert)

    def step(self, before: Term, after: Term, fired: dict[str, int]) -> Step:
        """The step with a trace of law instances when the search finds one in time."""
        trace = find_trace(before, after, self.theory)
        if trace is None:  # the certificate falls back to normal forms
            return Step(before, after, tuple(sorted(fired)))
        return Step(before, after, tuple(dict.fromkeys(r.law for r in trace)), trace=tuple(trace))

    def body(self, body: Arrow) -> Optimized:
        if body not in self.bodies:
            inner = _Optimizer(
                self.theory, self.cost, self.name, self.budget, self.min_gain, self.memory
            )
            self.bodies[body] = inner.run(body)
        return self.bodies[body]


def _outputs(v: Any) -> list[Term]:
    if isinstance(v, Term):
        return [v]
    return [t for x in v for t in _outputs(x)]


def _regions(roots: list[Term]) -> list[Term]:
    """The roots of the maximal term-language regions: outputs and opaque nodes' arguments."""
    out: dict[int, Term] = {id(r): r for r in roots if r.op in ALGEBRA}
    for t in nodes(roots):
        if t.op not in ALGEBRA:
            out.update((id(a), a) for a in t.args if a.op in ALGEBRA)
    return list(out.values())


def substitute(v: Any, replace: dict[int, Term]) -> Any:
    """``v`` with each node ``t`` whose id is in ``replace`` swapped, bottom-up.

    A replacement is written over the *old* leaves of its region; they are
    rewritten too, so nested regions compose.
    """
    memo: dict[int, Term] = {}

    def go(t: Term) -> Term:
        for node in nodes([replace.get(id(t), t)]):
            if id(node) in memo:
                continue
            if id(node) in replace and replace[id(node)] is not node:
                memo[id(node)] = go(replace[id(node)])
                continue
            args = tuple(memo[id(a)] if id(a) in memo else go(a) for a in node.args)
            if node.op in ALGEBRA:
                memo[id(node)] = algebra(node.op, node.data, *args)
            else:
                memo[id(node)] = Term(node.op, node.data, args, node.ob)
        return memo[id(replace.get(id(t), t))]

    def walk(x: Any) -> Any:
        return go(x) if isinstance(x, Term) else tuple(walk(y) for y in x)

    return walk(v)


def check(cert: Certificate, f: Arrow, g: Arrow) -> bool:
    """Re-check a certificate: every step is equal by the theory, and they turn ``f`` into ``g``.

    Each step's trace must replay law instance by law instance (``checks``),
    or, for a step without a trace, its two terms must have the same normal
    form modulo the theory (``topos.rewrite.polynomial``, ``LINEAR_ALGEBRA``
    only); the numbers of every ``Scale`` must be ones the laws hold for
    (``topos.rewrite.theory.scalar_ok``); a repeat's step must carry a
    certificate that checks for its bodies; replaying all steps on the terms of
    ``f`` must give exactly the terms of ``g``; and, for ``LINEAR_ALGEBRA``,
    ``equal_modulo`` must hold end to end.

    Args:
        cert: the certificate, as ``optimize`` returns it.
        f: the diagram before.
        g: the diagram after.

    Returns:
        Whether the certificate proves ``f`` equal to ``g`` by the laws of its theory.
    """
    if not isinstance(cert, Certificate):
        raise not_a("check", "a Certificate", cert)
    for arrow in (f, g):
        if not isinstance(arrow, Arrow):
            raise not_a("check", "an arrow", arrow)
    canon = Canon()
    swaps: dict[int, Term] = {}
    folds: dict[int, Term] = {}  # softmax-fold, applied after the saturated regions
    for s in cert.steps:
        if not _certified(s, cert.theory, canon):
            return False
        (folds if FOLD in s.laws else swaps)[id(s.before)] = s.after
    # with a fold, the normaliser sees an opaque box: the replay and the steps decide
    decided = cert.theory is LINEAR_ALGEBRA and not _folds(cert)  # the theory with a normaliser
    if not cert.steps:
        return f is g or (decided and equal_modulo(cert.theory, f, g))
    try:
        replayed, wanted = substitute(substitute(read(f), swaps), folds), read(g)
    except NotATensorTerm:
        return False
    return _same(replayed, wanted) and (not decided or equal_modulo(cert.theory, f, g))


def _folds(cert: Certificate) -> bool:
    """Whether ``softmax-fold`` rewrote anything, in ``cert`` or a repeat body's certificate."""
    return any(FOLD in s.laws or (s.body is not None and _folds(s.body)) for s in cert.steps)


def _certified(s: Step, theory: Theory, canon: Canon | None = None) -> bool:
    """One step is an equation of ``theory``: by its trace, its body, or normal forms."""
    if s.body is not None:
        old, new = repeat_body(s.before.data), repeat_body(s.after.data)
        return old is not None and new is not None and check(s.body, old[0], new[0])
    if FOLD in s.laws:  # the pattern, the attributes carried over, the monoid's certificate
        return s.laws == (FOLD,) and FOLD in theory.names() and is_instance(s.before, s.after)
    if not (scalars_ok(s.before) and scalars_ok(s.after)):
        return False
    if s.trace:
        return _replays(s, theory)
    if theory is not LINEAR_ALGEBRA:  # no normal forms to fall back on
        return False
    canon = canon or Canon()
    return bool(canon.key(canon.poly(s.before)) == canon.key(canon.poly(s.after)))


def _replays(s: Step, theory: Theory) -> bool:
    """The trace runs from ``s.before`` to ``s.after``, each step an instance of its law."""
    t = s.before
    for r in s.trace:
        if r.before is not t or not checks(r, theory):
            return False
        t = r.after
    return t is s.after


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Term) or isinstance(b, Term):
        return a is b
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
