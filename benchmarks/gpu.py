"""One table for an accelerator: training steps and decoding, topos vs hand-written loops.

    python benchmarks/gpu.py            # on a GPU: the sizes below, under 8 minutes on an H100
    python benchmarks/gpu.py --tiny     # anywhere (CPU included): tiny sizes, a smoke test

Four workloads, each timed interleaved round by round in this one process (each
call timed to completion), one row per implementation:

- **train, demo transformer** (``topos.nn.transformer``: learned positions,
  LayerNorm, GELU): topos (``batched`` + ``value_and_grad`` + adam, one jitted,
  donated step, the layers in the layer layout as ``fit`` trains them) vs Equinox
  and Flax NNX written by hand with a Python loop over blocks (``baselines.py``),
  all on the same weights;
- **train, Llama preset** (RoPE, RMSNorm, SwiGLU, grouped-query attention):
  topos and topos (Objective) vs the hand-written Equinox loop of ``llama_train.py``;
- **decode, GPT and Llama presets**: ``generate`` (greedy, batch 8) vs the plain-JAX
  cached decoder of ``generate.py`` (preallocated cache, unrolled layers, ``fori_loop``).

Columns: the median time per call, ``topos / this`` (the ratio of medians; < 1:
topos is faster), the achieved TFLOP/s and the **model-flops utilisation** (MFU):
model FLOPs per second over the device's peak. Training FLOPs are XLA's
``compiled.cost_analysis()`` count for the step (layers unrolled, so every layer
counts); decoding FLOPs are counted analytically, ``2 x (matmul parameters) +
4 x layers x context x d`` per token (the attention reads the whole preallocated
cache) for the prompt and each new token. The peak is the dense TF32 tensor-core
figure (float32 matmuls run in TF32 on these GPUs by default): 495 TFLOP/s for
an H100 or H200 (SXM), 156 for an A100; ``--peak-tflops`` sets another, and
without one (a CPU) the MFU column reads "—".
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from baselines import (  # noqa: E402
    Config,
    EqxTransformer,
    NnxTransformer,
    eqx_train_step,
    load_params,
    nnx_train_step,
)

from backends.jax import batched, init  # noqa: E402
from backends.jax.core.layout import unstack  # noqa: E402
from backends.jax.training.lenses import Objective, cross_entropy  # noqa: E402
from topos import nn  # noqa: E402
from topos.objects import Fin, R  # noqa: E402

#: Dense TF32 peaks (FLOP/s) by a word of ``jax.devices()[0].device_kind``.
PEAKS = {"H100": 494.7e12, "H200": 494.7e12, "A100": 156e12}


def _load(name: str) -> ModuleType:
    """A sibling benchmark as a module (their names would shadow the library's)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass(frozen=True)
class Plan:
    transformer: Config
    batch: int
    llama: Any  # llama_train.Size
    decode_ctx: int
    decode_steps: int
    decode_batch: int
    decode: Any  # generate.Size
    rounds: int
    per_round: int


def plans(llama: ModuleType, gen: ModuleType) -> dict[str, Plan]:
    return {
        "gpu": Plan(
            Config(vocab=256, seq=512, d=512, heads=8, layers=8), 32,
            llama.Size(vocab=256, seq=1024, d=1024, layers=8, heads=8, kv_heads=4,
                       head_dim=128, hidden=2816, batch=8),
            2048, 256, 8, gen.Size(d=1024, layers=8, heads=8, kv_heads=4, hidden=2816),
            rounds=5, per_round=4,
        ),
        "tiny": Plan(
            Config(vocab=32, seq=16, d=16, heads=2, layers=2), 4, llama.QUICK,
            32, 8, 2, gen.Size(d=16, layers=2, heads=2, kv_heads=1, hidden=24, vocab=32),
            rounds=2, per_round=2,
        ),
    }  # fmt: skip


@dataclasses.dataclass
class Row:
    workload: str
    name: str
    seconds: float  # median per call
    flops: float  # per call
    ratio: float = 1.0  # topos time / this time


def _flops(step: Any, *args: Any) -> float:
    cost = step.lower(*args).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float((cost or {}).get("flops", float("nan")))


def time_steps(
    steps: dict[str, tuple[Any, Any, Any]], batches: list[Any], rounds: int, per_round: int
) -> dict[str, float]:
    """Median step time of each ``name: (step, params, opt_state)``, interleaved step by step."""
    # copies: the steps donate their buffers, and the variants were loaded from one dict
    state = {k: jax.tree.map(jnp.copy, (p, o)) for k, (_, p, o) in steps.items()}
    for k, (step, _, _) in steps.items():  # compile and warm up
        p, o, loss = step(*state[k], batches[0])
        jax.block_until_ready(loss)
        state[k] = (p, o)
    names = list(steps)
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        for i in range(per_round):
            batch = batches[(1 + r * per_round + i) % len(batches)]
            for k in names if r % 2 == 0 else names[::-1]:
                t0 = time.perf_counter()
                p, o, loss = steps[k][0](*state[k], batch)
                jax.block_until_ready((p, loss))
                times[k].append(time.perf_counter() - t0)
                state[k] = (p, o)
    return {k: statistics.median(t) for k, t in times.items()}


def _train_rows(
    workload: str, steps: dict[str, tuple[Any, Any, Any]], batches: list[Any], plan: Plan
) -> list[Row]:
    flops = {k: _flops(s, p, o, batches[0]) for k, (s, p, o) in steps.items()}
    med = time_steps(steps, batches, plan.rounds, plan.per_round)
    return [Row(workload, k, med[k], flops[k]) for k in steps]


def train_transformer(plan: Plan, llama: ModuleType) -> list[Row]:
    cfg, tx = plan.transformer, optax.adam(1e-3)
    p = nn.transformer(cfg.vocab, cfg.seq, cfg.d, cfg.heads, cfg.layers, cfg.mlp_ratio)
    params = init(p, jax.random.key(0))
    logits = batched(p)

    def step(params: Any, opt_state: Any, batch: Any) -> Any:
        def loss(q: Any) -> Any:
            return optax.softmax_cross_entropy_with_integer_labels(
                logits(q, batch[0]), batch[1]
            ).mean()

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    layers = unstack(p, params)
    steps = {"topos": (jax.jit(step, donate_argnums=(0, 1)), layers, tx.init(layers))}
    objective = Objective(p, cross_entropy(R(cfg.seq, cfg.vocab), Fin(cfg.vocab, cfg.seq)))
    steps["topos (Objective)"] = (llama.objective_step(objective, tx), layers, tx.init(layers))
    eqx_model = load_params(EqxTransformer(cfg, jax.random.key(1), scan=False), params)
    s, st, o = eqx_train_step(eqx_model, tx)
    steps["equinox (loop)"] = (s, st, o)
    s, st, o = nnx_train_step(load_params(NnxTransformer(cfg, seed=1, scan=False), params), tx)
    steps["flax nnx (loop)"] = (s, st, o)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, cfg.vocab, (8, plan.batch, cfg.seq + 1)).astype(np.int32)
    batches = [(jnp.asarray(w[:, :-1]), jnp.asarray(w[:, 1:])) for w in ids]
    return _train_rows("train: demo transformer", steps, batches, plan)


def train_llama(plan: Plan, llama: ModuleType) -> list[Row]:
    vs, _ = llama.variants(plan.llama, penzai=False)
    tx = optax.adam(1e-3)
    steps = {}
    for v in vs:
        if v.name.startswith("topos") or v.name == "equinox (loop)":
            params = jax.tree.map(jnp.copy, v.params)
            steps[v.name.split()[0] + (" (loop)" if "loop" in v.name else "")] = (
                llama.make_step(v.logits, tx), params, tx.init(params))  # fmt: skip
    params = jax.tree.map(jnp.copy, vs[0].params)
    steps["topos (Objective)"] = (
        llama.objective_step(llama.objective(plan.llama), tx), params, tx.init(params))  # fmt: skip
    return _train_rows("train: Llama preset", steps, llama.batches(plan.llama, 8), plan)


def decode_flops(gen: ModuleType, preset: str, s: Any, ctx: int, steps: int, batch: int) -> float:
    """Model FLOPs of one decoding call: prompt and new tokens, over the whole cache."""
    params = init(gen.build(preset, ctx, s), jax.random.key(0))
    matmul = sum(
        int(np.prod(v.shape)) for k, v in params.items()
        if k.startswith("blocks.") and v.ndim >= 3  # the stacked weight matrices
    ) + s.vocab * s.d  # fmt: skip
    per_token = 2 * matmul + 4 * s.layers * ctx * s.d
    return float(batch * (ctx - 1) * per_token)  # the prompt and steps - 1 new rows


def decoding(plan: Plan, gen: ModuleType) -> list[Row]:
    rows = []
    for preset in ("gpt", "llama"):
        case = gen.Case(preset, plan.decode_ctx, "greedy", plan.decode_batch)
        out = gen.run_case(case, plan.decode, plan.decode_steps, plan.rounds)
        flops = decode_flops(
            gen, preset, plan.decode, plan.decode_ctx, plan.decode_steps, plan.decode_batch
        )
        tokens = plan.decode_batch * plan.decode_steps
        label = f"decode: {preset} preset"
        rows.append(Row(label, "topos generate", tokens / out["generate"], flops))
        rows.append(Row(label, "plain JAX (hand)", tokens / out["hand"], flops))
    return rows


def peak(given: float | None) -> float | None:
    if given is not None:
        return given * 1e12
    kind = jax.devices()[0].device_kind
    return next((v for k, v in PEAKS.items() if k in kind), None)


def render(rows: list[Row], top: float | None, plan: Plan, seconds: float) -> list[str]:
    dev = jax.devices()[0]
    lines = [
        f"Device: {dev.device_kind} ({dev.platform}), jax {jax.__version__}; peak"
        f" {'unknown' if top is None else f'{top / 1e12:.0f} TFLOP/s'}; {plan.rounds}"
        " interleaved rounds; median per call.",
        "",
        "| workload | implementation | median | topos / this | TFLOP/s | MFU |",
        "|---|---|---|---|---|---|",
    ]
    by: dict[str, float] = {}
    for r in rows:
        if r.name.startswith("topos"):
            by[r.workload] = r.seconds
    for r in rows:
        tf = r.flops / r.seconds / 1e12
        mfu = "—" if top is None or math.isnan(tf) else f"{r.flops / r.seconds / top:.1%}"
        lines.append(
            f"| {r.workload} | {r.name} | {r.seconds * 1e3:.2f} ms |"
            f" {by[r.workload] / r.seconds:.3f} | {tf:.3g} | {mfu} |"
        )
    lines += ["", f"Total: {seconds:.0f} s."]
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: a smoke test, any device")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak, for the MFU column")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default: 5; tiny 2)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    llama, gen = _load("llama_train"), _load("generate")
    plan = plans(llama, gen)["tiny" if args.tiny else "gpu"]
    if args.rounds:
        plan = dataclasses.replace(plan, rounds=args.rounds)
    rows: list[Row] = []
    for part in (
        lambda: train_transformer(plan, llama),
        lambda: train_llama(plan, llama),
        lambda: decoding(plan, gen),
    ):
        rows += part()
        print(f"... {rows[-1].workload} done ({time.perf_counter() - started:.0f} s)", flush=True)
    lines = render(rows, peak(args.peak_tflops), plan, time.perf_counter() - started)
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
