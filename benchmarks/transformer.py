"""The diagram-compiled transformer side by side with hand-written Equinox and Flax NNX.

    .venv/bin/python benchmarks/transformer.py            # prints the report
    .venv/bin/python benchmarks/transformer.py --out benchmarks/results.md   # and writes it
    .venv/bin/python benchmarks/transformer.py --quick    # a smoke test at a tiny size
    .venv/bin/python benchmarks/transformer.py --first-call 5   # first call and step only
    .venv/bin/python benchmarks/transformer.py --steps-only     # the train step and its HLO

One process, at the demo's default size (``backends.apps.demo.DemoConfig``), on the
demo's data (the Python standard library's source):

1. **train step**: every idiomatic variant of each baseline (``baselines.py``: flat
   ``jax.jit`` or the library's own ``eqx.filter_jit`` / ``nnx.jit``; blocks under a
   scan or a Python loop) and the diagram model (``topos.nn.transformer`` through
   ``backends.jax.batched``, stepped by the same flattened ``jax.jit`` over
   ``(params, opt_state, batch)`` with donated buffers as ``backends.jax.training.fit``),
   run interleaved round by round; each step timed to completion. Median step time
   and its ratio to each library's fastest variant;
2. **first call** (build the step, trace, compile, run once), repeated on fresh
   models, for topos and each library's fastest variant;
3. **cost**: ``cost_analysis()`` flops and optimised-HLO instruction counts of the
   train step;
4. **learning parity**: the same steps on the same batches from the same
   initialisation scheme (each library draws its own values), validation bits/char;
5. **depth sweep**: trace+lower and XLA compile time of the train step at 2, 8 and
   24 layers (the diagram's ``repeat`` is one ``lax.scan``);
6. **DSL costs**: building, analysing (and drawing) the 24-layer diagram; chains of
   1,000 / 10,000 / 100,000 boxes built one ``>>`` at a time, analysed and traced.

Timings on a shared machine are noisy: the comparison is the ratio of medians of
interleaved runs, never an absolute number.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gc
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from baselines import (  # noqa: E402
    Config,
    EqxTransformer,
    NnxTransformer,
    count_params,
    cross_entropy,
    eqx_train_step,
    nnx_train_step,
    paired,
)
from flax import nnx  # noqa: E402

from backends.apps.corpus import load_corpus  # noqa: E402
from backends.apps.demo import (  # noqa: E402
    DemoConfig,
    Vocab,
    eval_windows,
    evaluate_bits,
    make_batches,
    make_optimizer,
    unigram_bits,
)
from backends.jax import batched, compile, init  # noqa: E402
from backends.jax.core.compile import UNROLL_MAX  # noqa: E402
from backends.jax.core.layout import unstack  # noqa: E402
from backends.jax.training.lenses import Objective  # noqa: E402
from backends.jax.training.state import TrainState  # noqa: E402
from backends.jax.training.step import jit_step  # noqa: E402
from topos import nn  # noqa: E402
from topos.analysis import analyze  # noqa: E402
from topos.objects import Fin, R  # noqa: E402
from topos.para.lens import cross_entropy as lens_cross_entropy  # noqa: E402

Batch = tuple[Any, Any]
Step = Callable[[Any, Any, Batch], tuple[Any, Any, Any]]
OBJECTIVE = "topos (fit, Objective: the reverse derivative)"
JAX_GRAD = "topos (fit, jax.grad of a loss function)"


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much to measure."""

    cfg: Config
    batch: int  # sequences per step
    every_variant: bool  # all idiomatic variants, or the flat scan ones only
    rounds: int  # interleaved timing rounds
    per_round: int  # steps per variant per round
    first_calls: int  # extra fresh first-call measurements per chosen variant
    depths: tuple[int, ...]
    depth_baselines: bool  # also sweep the Equinox baselines
    chains: tuple[int, ...]
    parity_steps: int
    parity_seeds: tuple[int, ...]
    train_chars: int
    val_chars: int
    eval_windows: int


def full_plan(vocab: int) -> Plan:
    """The demo's default size; every variant; the sweeps of issue 6."""
    d = DemoConfig()
    return Plan(
        Config(vocab, d.seq, d.d_model, d.heads, d.layers),
        batch=d.batch,
        every_variant=True,
        rounds=8,
        per_round=5,
        first_calls=3,
        depths=(2, 8, 24),
        depth_baselines=True,
        chains=(1_000, 10_000, 100_000),
        parity_steps=250,
        parity_seeds=(0, 1),
        train_chars=d.train_chars,
        val_chars=d.val_chars,
        eval_windows=256,
    )


def quick_plan(vocab: int) -> Plan:
    """A smoke test: tiny model, the three flat-jit variants, a few steps."""
    return Plan(
        Config(vocab, 8, 16, 2, 2),
        batch=2,
        every_variant=False,
        rounds=2,
        per_round=2,
        first_calls=0,
        depths=(1, 2),
        depth_baselines=False,
        chains=(10, 100),
        parity_steps=3,
        parity_seeds=(0,),
        train_chars=100_000,
        val_chars=10_000,
        eval_windows=4,
    )


# ---------------------------------------------------------------------------------
# The variants


def diagram_loss(p: Any, params: Any, *, layers: bool) -> tuple[Callable[[Any, Batch], Any], Any]:
    """The diagram model's mean cross-entropy ``loss(params, batch)``, and its parameters
    (one array per layer with ``layers``, as ``fit(..., unstack=p)`` steps them)."""
    logits = batched(p)
    if layers:
        params = unstack(p, params)

    def loss(params: Any, batch: Batch) -> Any:
        tokens, targets = batch
        return cross_entropy(logits(params, tokens), targets)

    return loss, params


def diagram_train_step(
    p: Any, params: Any, tx: Any, *, layers: bool = True
) -> tuple[Step, Any, Any]:
    """The diagram model's train step: the flattened jit of ``backends.jax.training.fit``.

    With ``layers`` (as the demo's ``fit(..., unstack=p)``) the parameters of the
    unrolled ``repeat`` are stepped one array per layer (``backends.jax.core.layout``).
    """
    loss, params = diagram_loss(p, params, layers=layers)

    def step(params: Any, opt_state: Any, batch: Batch) -> tuple[Any, Any, Any]:
        value, grads = jax.value_and_grad(loss)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return jax.jit(step, donate_argnums=(0, 1)), params, tx.init(params)


def fit_train_step(
    p: Any, params: Any, tx: Any, *, layers: bool = True, objective: bool = False
) -> tuple[Step, Any, Any]:
    """``fit``'s own step (``backends.jax.training.step.jit_step``) on the diagram model.

    What a user of ``fit(..., unstack=p)`` runs: the state's flat leaves, the step
    guarded against NaN, and each batch's token ids checked on the host before the
    step (timed with it), the step compiled without the run-time id test. With
    ``objective`` the loss is ``Objective(p, cross_entropy)``, whose gradient is its
    reverse derivative; without, a loss function that ``jax.grad`` differentiates.
    Its state rides in the params slot (the optimiser's slot is ``None``); not a flat
    ``jax.jit`` (``lower`` cannot take it), so the cost section shows the flat step.
    """
    loss, params = diagram_loss(p, params, layers=layers)
    if objective:
        seq, vocab = p.cod.shape
        loss = Objective(p, lens_cross_entropy(R(seq, vocab), Fin(vocab, seq)))

    state = TrainState.build(params, tx)
    step = jit_step(loss, tx, state.partition, ids_on_host=True)

    def run(s: Any, _opt: Any, batch: Batch) -> tuple[Any, Any, Any]:
        s, value = step(s, batch)
        return s, None, value

    return run, state, None


@dataclasses.dataclass
class Variant:
    """A model and a way to step it: ``new(seed)`` (untimed) then ``prepare(model)``."""

    name: str
    library: str  # "topos", "equinox" or "nnx"
    new: Callable[[int], Any]
    prepare: Callable[[Any], tuple[Step, Any, Any]]
    flat: bool  # the step is one plain jax.jit over (params, opt_state, batch)
    scan: bool  # the blocks run under a scan
    split: bool = True  # topos: the unrolled repeat's parameters one array per layer

    def params(self, model: Any) -> Any:
        """The trainable arrays of a fresh ``model`` as the flat step takes them."""
        if self.library == "topos":
            return unstack(*model) if self.split else model[1]
        if self.library == "equinox":
            return eqx.partition(model, eqx.is_array)[0]
        return nnx.split(model, nnx.Param)[1]

    def logits(self, model: Any) -> Callable[[Any, Any], Any]:
        """``(params, tokens (b, seq)) -> logits`` for the flat step's params."""
        if self.library == "topos":
            return batched(model[0])
        if self.library == "equinox":
            static = eqx.partition(model, eqx.is_array)[1]
            return lambda params, x: jax.vmap(eqx.combine(params, static))(x)
        graphdef = nnx.split(model, nnx.Param)[0]
        return lambda params, x: nnx.merge(graphdef, params)(x)


def variants(cfg: Config, tx: Any, *, every: bool = True) -> list[Variant]:
    """The diagram model first, then the idiomatic variants of both baselines."""

    def diagram_new(seed: int) -> Any:
        p = nn.transformer(cfg.vocab, cfg.seq, cfg.d, cfg.heads, cfg.layers, cfg.mlp_ratio)
        return p, init(p, jax.random.key(seed))

    out = [
        Variant(
            name,
            "topos",
            diagram_new,
            lambda m, objective=objective: fit_train_step(m[0], m[1], tx, objective=objective),
            flat=False,
            scan=True,
        )
        for name, objective in ((OBJECTIVE, True), (JAX_GRAD, False))
    ] + [
        Variant(
            "topos (diagram, repeat)",
            "topos",
            diagram_new,
            lambda m: diagram_train_step(m[0], m[1], tx),
            flat=True,
            scan=True,
        ),
    ]
    for scan in (True, False) if every else (True,):
        for flat in (True, False) if every else (True,):
            layers = "scan" if scan else "loop"
            out.append(
                Variant(
                    f"equinox ({layers}, {'jax.jit' if flat else 'eqx.filter_jit'})",
                    "equinox",
                    lambda seed, scan=scan: EqxTransformer(cfg, jax.random.key(seed), scan=scan),
                    lambda m, flat=flat: eqx_train_step(m, tx, flat=flat),
                    flat=flat,
                    scan=scan,
                )
            )
            out.append(
                Variant(
                    f"flax nnx ({layers}, {'jax.jit' if flat else 'nnx.jit'})",
                    "nnx",
                    lambda seed, scan=scan: NnxTransformer(cfg, seed=seed, scan=scan),
                    lambda m, flat=flat: nnx_train_step(m, tx, flat=flat),
                    flat=flat,
                    scan=scan,
                )
            )
    return out


def _ready(model: Any) -> None:
    tree = nnx.state(model) if isinstance(model, nnx.Module) else model
    jax.block_until_ready([x for x in jax.tree.leaves(tree) if isinstance(x, jax.Array)])


@dataclasses.dataclass
class Live:
    """A variant being stepped: its compiled step function and current state."""

    variant: Variant
    model: Any  # the model it was built from (static structure, logits)
    step: Step
    state: Any
    opt: Any
    first_call: float
    times: list[float] = dataclasses.field(default_factory=list)
    first_cpu: float = 0.0  # process CPU seconds of the first call (less noisy under load)

    def run(self, batches: list[Batch], record: bool = True) -> Any:
        loss = None
        for batch in batches:
            t = time.perf_counter()
            self.state, self.opt, loss = self.step(self.state, self.opt, batch)
            loss.block_until_ready()
            if record:
                self.times.append(time.perf_counter() - t)
        return loss


def start(v: Variant, batch: Batch) -> Live:
    """Build ``v`` and time its first call: prepare (step, optimizer state) + one step."""
    model = v.new(0)
    _ready(model)
    gc.collect()  # every variant starts on a collected heap, not one left by the last
    t, cpu = time.perf_counter(), time.process_time()
    step, state, opt = v.prepare(model)
    state, opt, loss = step(state, opt, batch)
    loss.block_until_ready()
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    return Live(v, model, step, state, opt, wall, first_cpu=cpu)


# ---------------------------------------------------------------------------------
# Cost and HLO

_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?[%\w.\-]+\s+=\s+(.*)$")
_OPCODE = re.compile(r"\s*([a-z][\w\-]*)\(")


def _skip_type(text: str) -> str:
    """``text`` after its leading HLO shape (a tuple in parentheses, or one token)."""
    if not text.startswith("("):
        return text.split(" ", 1)[1] if " " in text else ""
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return text[i + 1 :]
    return ""


def hlo_ops(text: str) -> collections.Counter[str]:
    """Instruction opcodes of an HLO module's text (fused computations included).

    >>> hlo_ops("ENTRY %m {\\n  %p = f32[2]{0} parameter(0)\\n"
    ...         "  ROOT %w = (s32[], /*index=1*/f32[2]{0}) while(%t), body=%b\\n}")
    Counter({'parameter': 1, 'while': 1})
    """
    ops: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        m = _INSTRUCTION.match(line)
        if m:
            op = _OPCODE.match(_skip_type(m.group(1)))
            if op:
                ops[op.group(1)] += 1
    return ops


def _flops(compiled: Any) -> float:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float(cost.get("flops", float("nan")))


@dataclasses.dataclass
class Lowered:
    trace_s: float
    compile_s: float
    flops: float
    ops: collections.Counter[str]


def lower(step: Any, state: Any, opt: Any, batch: Batch) -> Lowered:
    """Trace+lower and compile a flat jitted step (cached if it ran already)."""
    t = time.perf_counter()
    lowered = step.lower(state, opt, batch)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    return Lowered(t1 - t, t2 - t1, _flops(compiled), hlo_ops(compiled.as_text()))


def lower_fresh(v: Variant, batch: Batch) -> Lowered:
    """Trace+lower and compile the flat train step of ``v`` built on a fresh model."""
    step, state, opt = v.prepare(v.new(0))
    return lower(step, state, opt, batch)


# ---------------------------------------------------------------------------------
# Sections


class Report:
    """Markdown lines, echoed to stdout as they come."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)

    def table(self, head: list[str], rows: list[list[Any]]) -> None:
        self("| " + " | ".join(head) + " |")
        self("|" + "|".join("---" for _ in head) + "|")
        for row in rows:
            self("| " + " | ".join(str(c) for c in row) + " |")
        self()


def _ms(x: float) -> str:
    return f"{1000 * x:.1f} ms"


def _s(x: float) -> str:
    return f"{x:.2f} s" if x >= 0.1 else f"{1000 * x:.1f} ms"


@dataclasses.dataclass
class Steps:
    """What the train-step section leaves for the others."""

    lives: dict[str, Live]
    medians: dict[str, float]
    best: dict[str, str]  # library -> its fastest variant

    @property
    def diagram(self) -> Live:
        return next(iter(self.lives.values()))


def section_steps(say: Report, plan: Plan, vs: list[Variant], batches: list[Batch]) -> Steps:
    say("## Train step (interleaved)")
    say()
    lives = {}
    for v in vs:
        lives[v.name] = start(v, batches[0])
        lives[v.name].run(batches[1:3], record=False)  # warm up
    names = list(lives)
    for r in range(plan.rounds):  # step by step, each step in another order: load hits all alike
        for i in range(plan.per_round):
            k = (r * plan.per_round + i) % len(names)
            for name in names[k:] + names[:k]:
                lives[name].run(batches[i : i + 1])
    medians = {n: statistics.median(lv.times) for n, lv in lives.items()}
    best = {
        lib: min((n for n in names if lives[n].variant.library == lib), key=medians.__getitem__)
        for lib in ("equinox", "nnx")
    }
    diagram = medians[names[0]]
    rows = []
    for n in sorted(names, key=medians.__getitem__):
        q1, q3 = np.percentile(lives[n].times, [25, 75])
        ratio = f"{diagram / medians[n]:.3f}"
        rows.append([n, _ms(medians[n]), f"{_ms(q1)} - {_ms(q3)}", ratio, _s(lives[n].first_call)])
    say(
        f"{plan.rounds} rounds x {plan.per_round} steps per variant, interleaved step by step"
        f" (each step timed to completion, each in another order); batch {plan.batch} x"
        f" {plan.cfg.seq} tokens; the demo's"
        " optimizer (clipping + adamw, warmup and cosine decay). Median and interquartile"
        " range of the step times; ratio < 1 means topos is faster."
    )
    say()
    say.table(["variant", "median step", "IQR", "topos / this", "first call"], rows)
    faster = min(best.values(), key=medians.__getitem__)
    say(
        f"**Step ratio** topos / fastest Equinox ({best['equinox']}):"
        f" **{diagram / medians[best['equinox']]:.3f}**; topos / fastest NNX ({best['nnx']}):"
        f" **{diagram / medians[best['nnx']]:.3f}**; topos / the faster baseline:"
        f" **{diagram / medians[faster]:.3f}** (target <= 1.00)."
    )
    say()
    for name in names:
        if lives[name].variant.library == "topos":
            say(f"- {name} / the faster baseline ({faster}), per step, paired:"
                f" {paired(lives[name].times, lives[faster].times)}")  # fmt: skip
    say()
    return Steps(lives, medians, best)


def section_first_call(say: Report, plan: Plan, steps: Steps, batch: Batch) -> None:
    say("## First call (build the step, trace, compile, run once)")
    say()
    fits = [n for n in steps.lives if steps.lives[n].variant.library == "topos"][:2]
    chosen = [*fits, steps.best["equinox"], steps.best["nnx"]]
    firsts = {n: [steps.lives[n].first_call] for n in chosen}
    for _ in range(plan.first_calls):
        for n in chosen:
            firsts[n].append(start(steps.lives[n].variant, batch).first_call)
    diagram = statistics.median(firsts[chosen[0]])
    rows = []
    for n in chosen:
        med = statistics.median(firsts[n])
        rows.append([n, _s(med), ", ".join(f"{x:.2f}" for x in firsts[n]), f"{diagram / med:.3f}"])
    say(
        f"Median of {len(firsts[chosen[0]])} fresh builds each (the first in the train-step"
        " section, then interleaved), for fit on an Objective and on a loss function, and"
        " each library's fastest variant."
    )
    say()
    say.table(["variant", "median first call", "runs (s)", "topos / this"], rows)
    best = min(statistics.median(firsts[n]) for n in chosen[len(fits) :])
    ratios = "; ".join(f"{n}: **{statistics.median(firsts[n]) / best:.3f}**" for n in fits)
    say(
        f"**First-call ratio** / the faster baseline: {ratios} (target <= 1.1). An Objective's"
        " reverse derivative is traced box by box (``backends.jax.core.batch.summed``), which"
        " costs its first call about two more seconds of tracing; the compile time is the"
        " same."
    )
    say()


def section_cost(say: Report, steps: Steps, batch: Batch) -> None:
    say("## Cost analysis and optimised HLO of the train step")
    say()
    flat = [lv for lv in steps.lives.values() if lv.variant.flat]
    low = {lv.variant.name: lower(lv.step, lv.state, lv.opt, batch) for lv in flat}
    name0 = flat[0].variant.name
    diagram = low[name0]
    keys = ["fusion", "dot", "while", "dynamic-slice", "copy", "transpose", "custom-call"]
    rows = []
    for name, lo in low.items():
        rows.append(
            [name, f"{lo.flops:,.0f}", f"{lo.flops / diagram.flops:.4f}", sum(lo.ops.values())]
            + [lo.ops.get(k, 0) for k in keys]
        )
    say(
        "XLA's `cost_analysis()` counts a while loop's body once, so flops compare between"
        " variants with the same loop structure: a rolled scan (`while` in the HLO) or"
        " unrolled layers. topos's `repeat` unrolls stacks of at most"
        f" {UNROLL_MAX} layers (`backends.jax.core.compile.UNROLL_MAX`) and scans deeper ones."
    )
    say()
    say.table(["variant (flat jax.jit)", "flops", "/ topos", "HLO instructions", *keys], rows)
    rolled = diagram.ops.get("while", 0) > 0
    same = [n for n in low if n != name0 and (low[n].ops.get("while", 0) > 0) == rolled]
    shape = "scan" if rolled else "loop"
    if not same:  # e.g. --quick, which builds scan baselines only
        same, shape = [n for n in low if n != name0], "(differently looped, not comparable)"
    worst = max(abs(diagram.flops / low[n].flops - 1) for n in same)
    say(f"**Flops**: topos is within **{100 * worst:.2f}%** of the {shape} baselines (target 1%).")
    say()
    ref = low[same[0]].ops
    diff = [
        f"{k} {diagram.ops.get(k, 0)}/{ref.get(k, 0)}"
        for k in sorted(set(diagram.ops) | set(ref))
        if diagram.ops.get(k, 0) != ref.get(k, 0)
    ]
    say(f"Opcode counts that differ, topos / {same[0]}: " + (", ".join(diff) or "none") + ".")
    say()


def section_depth(say: Report, plan: Plan, tx: Any, batch: Batch) -> None:
    say("## Depth sweep: trace and compile time of the train step")
    say()
    rows = []
    took: dict[str, dict[int, float]] = collections.defaultdict(dict)
    for depth in plan.depths:
        cfg = dataclasses.replace(plan.cfg, layers=depth)
        vs = [v for v in variants(cfg, tx) if v.flat and v.library != "nnx"]
        for v in vs if plan.depth_baselines else vs[:1]:
            lo = lower_fresh(v, batch)
            took[v.name][depth] = lo.trace_s + lo.compile_s
            rows.append([v.name, depth, _s(lo.trace_s), _s(lo.compile_s), f"{lo.flops:,.0f}"])
    say("Fresh models; trace+lower (`jit(step).lower`) and XLA compile (`.compile()`).")
    say()
    say.table(["variant", "layers", "trace+lower", "XLA compile", "flops (loop body once)"], rows)
    lo_d, hi_d = plan.depths[0], plan.depths[-1]
    for name, at in took.items():
        say(f"- {name}: {hi_d} layers / {lo_d} layers = **{at[hi_d] / at[lo_d]:.2f}x**")
    say()
    say(f"(target for topos: {hi_d} layers <= 1.5x the {lo_d}-layer trace + compile time)")
    say()


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def section_dsl(say: Report, plan: Plan) -> None:
    say("## DSL costs")
    say()
    cfg = dataclasses.replace(plan.cfg, layers=plan.depths[-1])
    n = cfg.layers
    rows = []
    t = time.perf_counter()
    p = nn.transformer(cfg.vocab, cfg.seq, cfg.d, cfg.heads, cfg.layers)
    rows.append([f"build nn.transformer, {n} layers", _s(time.perf_counter() - t)])
    rows.append([f"analyze it ({n} layers)", _s(_timed(lambda: analyze(p)))])
    try:
        from topos.draw import draw
    except ImportError:
        rows.append(["draw it", "topos.draw not available"])
    else:
        rows.append([f"draw it ({n} layers, depth 2)", _s(_timed(lambda: draw(p, depth=2)))])
    shapes = {k: jax.ShapeDtypeStruct(q.ob.shape, jnp.float32) for k, q in p.parameters().items()}
    tokens = jax.ShapeDtypeStruct((plan.batch, cfg.seq), jnp.int32)
    trace = _timed(lambda: jax.make_jaxpr(batched(p))(shapes, tokens))
    rows.append(["interpret it into JAX and trace its batched forward pass", _s(trace)])
    from topos.nn.primitives import relu
    from topos.objects import R

    box = relu(R(8))
    for size in plan.chains:
        t = time.perf_counter()
        chain = box
        for _ in range(size - 1):
            chain = chain >> box
        rows.append(
            [f"chain of {size:,} boxes: build one >> at a time", _s(time.perf_counter() - t)]
        )
        rows.append([f"chain of {size:,} boxes: analyze", _s(_timed(lambda c=chain: analyze(c)))])
        trace = _timed(lambda c=chain: jax.make_jaxpr(compile(c))(jnp.zeros(8)))
        rows.append([f"chain of {size:,} boxes: compile + trace to a jaxpr", _s(trace)])
    say.table(["operation", "time"], rows)


def section_parity(
    say: Report, plan: Plan, steps: Steps, data: tuple[np.ndarray, np.ndarray]
) -> None:
    say("## Learning parity")
    say()
    train_ids, val_ids = data
    cfg = plan.cfg
    batches = make_batches(train_ids, cfg.seq, plan.batch, 0)
    windows = eval_windows(val_ids, cfg.seq, plan.eval_windows)
    flat = [n for n, lv in steps.lives.items() if lv.variant.flat]
    chosen = [flat[0]] + [
        min((n for n in flat if steps.lives[n].variant.library == lib), key=steps.medians.get)
        for lib in ("equinox", "nnx")
    ]
    rows, bits = [], collections.defaultdict(list)
    for seed in plan.parity_seeds:
        for name in chosen:
            lv = steps.lives[name]
            model = lv.variant.new(seed)  # fresh initial values, the same compiled step
            state = lv.variant.params(model)
            opt = plan_tx(plan).init(state)
            t = time.perf_counter()
            for i in range(plan.parity_steps):
                state, opt, loss = lv.step(state, opt, tuple(jnp.asarray(a) for a in batches(i)))
            last = float(loss) / math.log(2)
            elapsed = time.perf_counter() - t
            value = evaluate_bits(lv.variant.logits(model), state, windows, plan.batch)
            bits[name].append(value)
            rows.append([name, seed, f"{value:.4f}", f"{last:.4f}", _s(elapsed)])
    say(
        f"{plan.parity_steps} steps of batch {plan.batch} x {cfg.seq} on the same batches"
        " (the demo's data and optimizer), from the initialisation scheme of the contract,"
        f" each model drawing its own values with seeds {list(plan.parity_seeds)};"
        f" validation bits/char on {len(windows[0])} windows of the held-out files."
    )
    say()
    say.table(["model", "seed", "validation bits/char", "last train loss (bits)", "time"], rows)
    mean = {n: statistics.mean(b) for n, b in bits.items()}
    say("Mean over seeds: " + "; ".join(f"{n} **{m:.4f}**" for n, m in mean.items()) + ".")
    say()
    worst = max(abs(mean[chosen[0]] / mean[n] - 1) for n in chosen[1:])
    say(
        f"**Parity**: topos's mean validation loss is within **{100 * worst:.2f}%** of each"
        " baseline's (target 2%)."
    )
    say()


def first_call_only(say: Report, plan: Plan, batch: Batch, reps: int) -> None:
    """Fresh first calls of topos and the loop variants, interleaved; then their steps."""
    tx = plan_tx(plan)
    chosen = [v for v in variants(plan.cfg, tx) if v.library == "topos" or not v.scan]
    stacked = dataclasses.replace(
        chosen[0],
        name="topos (stacked parameters)",
        prepare=lambda m: diagram_train_step(m[0], m[1], tx, layers=False),
        split=False,
    )
    chosen.append(stacked)  # the layout fit trains without unstack=p: the gain of the split
    firsts: dict[str, list[tuple[float, float]]] = {v.name: [] for v in chosen}
    lives: dict[str, Live] = {}
    for _ in range(reps):
        for v in chosen:
            lives[v.name] = start(v, batch)
            firsts[v.name].append((lives[v.name].first_call, lives[v.name].first_cpu))
    for live in lives.values():
        live.run([batch] * 2, record=False)
    for r in range(plan.rounds):
        for live in list(lives.values())[r % len(lives) :] + list(lives.values())[: r % len(lives)]:
            live.run([batch] * plan.per_round)
    wall = {n: statistics.median(x[0] for x in xs) for n, xs in firsts.items()}
    cpu = {n: statistics.median(x[1] for x in xs) for n, xs in firsts.items()}
    steps = {n: statistics.median(lv.times) for n, lv in lives.items()}
    topos = chosen[0].name
    say("## First call (build the step, trace, compile, run once) and step time")
    say()
    say(
        f"Median of {reps} fresh builds each, interleaved; wall and process CPU seconds (CPU"
        f" time is less sensitive to other load); then {plan.rounds} x {plan.per_round}"
        " interleaved steps of each."
    )
    say()
    rows = [
        [
            n,
            _s(wall[n]),
            f"{wall[topos] / wall[n]:.3f}",
            _s(cpu[n]),
            f"{cpu[topos] / cpu[n]:.3f}",
            _ms(steps[n]),
            f"{steps[topos] / steps[n]:.3f}",
        ]
        for n in firsts
    ]
    say.table(
        ["variant", "first call", "topos / this", "CPU", "topos / this", "step", "topos / this"],
        rows,
    )
    for label, table in (("wall", wall), ("CPU", cpu), ("step", steps)):
        best = min(v for n, v in table.items() if not n.startswith("topos"))
        say(f"- {label}: topos / the faster baseline **{table[topos] / best:.3f}**")
    say()


def plan_tx(plan: Plan) -> Any:
    """The optimizer every variant trains with: the demo's, scheduled over the parity run."""
    return make_optimizer(DemoConfig(steps=plan.parity_steps))


# ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny smoke test")
    parser.add_argument(
        "--out", help="markdown file to write the report into (e.g. benchmarks/results.md)"
    )
    parser.add_argument(
        "--first-call",
        type=int,
        default=0,
        metavar="N",
        help="only the first-call comparison: N fresh builds of each, random tokens",
    )
    parser.add_argument(
        "--steps-only",
        action="store_true",
        help="only the interleaved train-step comparison (section 1) and the HLO cost (3)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.first_call:
        say = Report()
        plan = full_plan(96)
        tokens = jax.random.randint(jax.random.key(0), (plan.batch, plan.cfg.seq), 0, 96)
        first_call_only(say, plan, (tokens, tokens), args.first_call)
        return 0
    make_plan = quick_plan if args.quick else full_plan
    probe = make_plan(0)
    corpus = load_corpus(None, probe.train_chars, probe.val_chars)
    vocab = Vocab.build(corpus.train)
    train_ids, val_ids = vocab.encode(corpus.train), vocab.encode(corpus.val)
    plan = make_plan(len(vocab))
    cfg = plan.cfg
    say = Report()
    p = nn.transformer(cfg.vocab, cfg.seq, cfg.d, cfg.heads, cfg.layers)
    n_diagram = sum(math.prod(param.ob.shape) for param in p.parameters().values())
    say("# Benchmarks: the diagram-compiled transformer vs hand-written Equinox and Flax NNX")
    say()
    say(f"Command: `.venv/bin/python benchmarks/transformer.py{' --quick' if args.quick else ''}`")
    say()
    say(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, JAX on"
        f" {jax.devices()[0].platform}; jax {jax.__version__}, equinox {eqx.__version__},"
        f" flax {_version('flax')}, optax {optax.__version__}; Python {platform.python_version()}."
    )
    say()
    say(
        f"Model{'' if args.quick else ' (the demo defaults)'}: vocab {cfg.vocab}, seq {cfg.seq},"
        f" d {cfg.d}, heads {cfg.heads}, layers {cfg.layers}, mlp x{cfg.mlp_ratio}; parameters:"
        f" {n_diagram:,} (topos), {count_params(EqxTransformer(cfg, jax.random.key(0))):,}"
        f" (Equinox), {count_params(NnxTransformer(cfg)):,} (NNX), {cfg.n_params():,} (contract)."
    )
    say()
    say(
        f"Data: the source of the Python {platform.python_version()} standard library (the"
        f" demo's corpus): {len(corpus.train):,} training characters from"
        f" {corpus.train_files} files, {len(corpus.val):,} validation characters from"
        f" {corpus.val_files} held-out files; unigram baseline"
        f" {unigram_bits(train_ids, val_ids, len(vocab)):.3f} bits/char."
    )
    say()
    batch_fn = make_batches(train_ids, cfg.seq, plan.batch, 1)
    batches = [tuple(jnp.asarray(a) for a in batch_fn(i)) for i in range(max(plan.per_round, 3))]
    tx = plan_tx(plan)
    steps = section_steps(say, plan, variants(cfg, tx, every=plan.every_variant), batches)
    if args.steps_only:
        section_cost(say, steps, batches[0])
        return 0
    section_first_call(say, plan, steps, batches[0])
    section_cost(say, steps, batches[0])
    section_parity(say, plan, steps, (train_ids, val_ids))
    section_depth(say, plan, tx, batches[0])
    section_dsl(say, plan)
    say(f"Total benchmark time: {time.perf_counter() - started:.0f} s.")
    if args.out is not None:  # the report is printed as it goes; a file changes only when asked
        write_results(Path(args.out), say.lines)
    return 0


#: Everything after this line of results.md belongs to other benchmark scripts
#: (``llama_train.py``, ``generate.py``, ...) and is kept when this one rewrites its part.
OTHERS = "<!-- sections of other benchmarks follow; transformer.py keeps them -->"


def write_results(path: Path, lines: list[str]) -> None:
    """Write this benchmark's sections to ``path``, keeping other scripts' sections."""
    old = path.read_text() if path.exists() else ""
    tail = old.split(OTHERS, 1)[1] if OTHERS in old else ""
    path.write_text("\n".join(lines) + "\n\n" + OTHERS + tail)


def _version(module: str) -> str:
    from importlib.metadata import version

    return version(module)


if __name__ == "__main__":
    raise SystemExit(main())
