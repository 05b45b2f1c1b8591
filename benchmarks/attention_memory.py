"""Attention in linear memory: the fold that ``optimize(..., memory_budget=...)`` derives.

    .venv/bin/python benchmarks/attention_memory.py            # 4,096 and 32,768, Llama at 8,192
    .venv/bin/python benchmarks/attention_memory.py --long     # and 65,536 (minutes)
    .venv/bin/python benchmarks/attention_memory.py --quick    # a smoke test at tiny sizes
    .venv/bin/python benchmarks/attention_memory.py --out benchmarks/results.md  # and record it

The diagram is causal multi-head attention as ``topos.nn.self_attention`` builds it:
``einsum`` scores, ``scale``, ``causal_mask``, ``softmax``, ``einsum`` mix. Three
implementations of that function on the same ``q, k, v``:

- **fold**: ``optimize(attention, memory_budget=...)``, which rewrites it by the law
  ``softmax-fold`` into one ``softmax_fold`` box, compiled (a ``lax.scan`` over key
  blocks inside a ``jax.checkpoint``-ed ``lax.map`` over query blocks);
- **materialised**: the diagram compiled as it is (the ``s × t`` scores in memory);
- **jax.nn**: ``jax.nn.dot_product_attention(..., is_causal=True)``.

Forward is the output; backward is ``jax.grad`` of ``sum(out * w)`` with respect to
``q, k, v``. Each is jitted and timed interleaved, round by round (each round in
another order); the ratios are of per-round times (materialised / fold and jax.nn /
fold: above 1 the fold is faster), printed as median [quartiles]. Peak memory is
``compiled.memory_analysis()``: temporaries plus output (arguments excluded), so a
form that cannot run still reports what it would need. The Llama preset
(``topos.nn.zoo.llama``, the size of ``benchmarks/llama_train.py``) takes one
adam step on one sequence of 8,192 tokens with the fold; its materialised step is
only compiled and analysed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from backends.jax import apply, compile, init, optimized  # noqa: E402
from topos.arrows import Arrow  # noqa: E402
from topos.nn.zoo import llama  # noqa: E402
from topos.rewrite import optimize  # noqa: E402
from topos.rewrite.examples import softmax_attention  # noqa: E402

BEGIN, END = "<!-- attention_memory: begin -->", "<!-- attention_memory: end -->"
GiB = 2.0**30


def attention(seq: int, heads: int, dh: int) -> Arrow:
    """Causal attention ``q * k * v -> out`` in the layout of ``topos.nn.self_attention``."""
    return softmax_attention(seq, heads, dh)


def peak(compiled: Any) -> int:
    """Temporaries plus output of a compiled program, in bytes."""
    m = compiled.memory_analysis()
    return int(m.temp_size_in_bytes + m.output_size_in_bytes)


def forward_backward(f: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def bwd(q: Any, k: Any, v: Any, w: Any) -> Any:
        return jax.grad(lambda *a: jnp.sum(f(*a) * w), argnums=(0, 1, 2))(q, k, v)

    return jax.jit(f), jax.jit(bwd)


def inputs(seq: int, heads: int, dh: int) -> tuple[Any, ...]:
    kq, kk, kv, kw = jax.random.split(jax.random.key(0), 4)
    q = jax.random.normal(kq, (seq, heads, 1, dh))
    k = jax.random.normal(kk, (seq, heads, dh))
    v = jax.random.normal(kv, (seq, heads, dh))
    return q, k, v, jax.random.normal(kw, (seq, heads, 1, dh))


def variants(seq: int, heads: int, dh: int, block: int) -> dict[str, Callable[..., Any]]:
    arrow = attention(seq, heads, dh)
    fold = optimize(arrow, memory_budget=0, block=block)
    assert any("softmax-fold" in s.laws for s in fold.certificate.steps), fold.certificate
    dense, folded = compile(arrow), compile(fold.arrow)

    def jnn(q: Any, k: Any, v: Any) -> Any:
        out = jax.nn.dot_product_attention(q[None, :, :, 0], k[None], v[None], is_causal=True)
        return out[0][:, :, None]

    return {
        "fold": lambda q, k, v: folded(((q, k), v)),
        "materialised": lambda q, k, v: dense(((q, k), v)),
        "jax.nn": jnn,
    }


def quartiles(xs: list[float]) -> str:
    if len(xs) < 4:
        return f"{statistics.median(xs):.2f}"
    q1, q2, q3 = statistics.quantiles(xs, n=4)
    return f"{q2:.2f} [{q1:.2f}, {q3:.2f}]"


def timed(fns: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    for fn in fns.values():
        jax.block_until_ready(fn())  # compile and warm
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t = time.perf_counter()
            jax.block_until_ready(fns[name]())
            times[name].append(time.perf_counter() - t)
    return times


def speed(seq: int, heads: int, dh: int, block: int, rounds: int) -> list[str]:
    """Forward and backward at ``seq``: ratios and peak memory of the three forms."""
    q, k, v, w = inputs(seq, heads, dh)
    forms = variants(seq, heads, dh, block)
    want = forms["materialised"](q, k, v)
    err = max(float(jnp.abs(forms[n](q, k, v) - want).max()) for n in ("fold", "jax.nn"))
    lines = [
        f"### causal attention, context {seq:,} ({heads} heads, d {dh}, fold block {block})",
        "",
        f"max |difference| from the materialised output: {err:.1e}",
        "",
        "| pass | fold ms | materialised / fold | jax.nn / fold | peak MiB fold |"
        " materialised | jax.nn |",
        "|---|---|---|---|---|---|---|",
    ]
    for which in ("forward", "backward"):
        fns: dict[str, Callable[[], Any]] = {}
        peaks = {}
        for name, f in forms.items():
            fwd, bwd = forward_backward(f)
            prog, args = (fwd, (q, k, v)) if which == "forward" else (bwd, (q, k, v, w))
            peaks[name] = peak(prog.lower(*args).compile()) / 2**20
            fns[name] = lambda prog=prog, args=args: prog(*args)
        t = timed(fns, rounds)
        ratio = {
            n: [a / b for a, b in zip(t[n], t["fold"], strict=True)]
            for n in ("materialised", "jax.nn")
        }
        lines.append(
            f"| {which} | {1e3 * statistics.median(t['fold']):.0f} |"
            f" {quartiles(ratio['materialised'])} | {quartiles(ratio['jax.nn'])} |"
            f" {peaks['fold']:.0f} | {peaks['materialised']:.0f} | {peaks['jax.nn']:.0f} |"
        )
    return lines


def long_context(seqs: list[int], block: int) -> list[str]:
    """One head, d 64: the fold runs; the materialised form is only compiled and analysed."""
    lines = [
        "### one head, d 64: where the scores do not fit",
        "",
        "| context | pass | fold peak MiB | fold s (one run) | materialised peak MiB (not run) |",
        "|---|---|---|---|---|",
    ]
    for seq in seqs:
        q, k, v, w = inputs(seq, 1, 64)
        forms = variants(seq, 1, 64, block)
        for which in ("forward", "backward"):
            row = []
            for name in ("fold", "materialised"):
                fwd, bwd = forward_backward(forms[name])
                prog, args = (fwd, (q, k, v)) if which == "forward" else (bwd, (q, k, v, w))
                compiled = prog.lower(*args).compile()
                row.append(peak(compiled) / 2**20)
                if name == "fold":
                    t = time.perf_counter()
                    jax.block_until_ready(compiled(*args))
                    row.append(time.perf_counter() - t)
            lines.append(f"| {seq:,} | {which} | {row[0]:.0f} | {row[1]:.1f} | {row[2]:,.0f} |")
    return lines


def llama_step(seq: int, block: int, small: bool) -> list[str]:
    """One adam step of the Llama preset on one sequence of ``seq`` tokens."""
    dims = (32, seq, 16, 4, 2, 24) if small else (256, seq, 128, 4, 4, 384)
    p = llama(*dims, kv_heads=2)
    folded = optimized(p, memory_budget=0, block=block)
    assert folded is not p
    tx = optax.adam(1e-3)
    tokens = jax.random.randint(jax.random.key(1), (seq,), 0, dims[0])
    params = init(p, jax.random.key(0))

    def make(para: Any) -> Any:
        def step(params: Any, opt: Any) -> Any:
            def loss(params: Any) -> Any:
                logits = apply(para, params, tokens)
                return optax.softmax_cross_entropy_with_integer_labels(
                    logits[:-1], tokens[1:]
                ).mean()

            value, grads = jax.value_and_grad(loss)(params)
            updates, opt = tx.update(grads, opt, params)
            return optax.apply_updates(params, updates), opt, value

        return jax.jit(step)

    opt = tx.init(params)
    fold_c = make(folded).lower(params, opt).compile()
    dense_c = make(p).lower(params, opt).compile()
    t = time.perf_counter()
    _, _, value = jax.block_until_ready(fold_c(params, opt))
    seconds = time.perf_counter() - t
    name = "d {2}, {4} layers, {3} heads (2 key/value), hidden {5}, vocab {0}".format(*dims)
    return [
        f"### Llama preset training, sequence {seq:,} (one adam step, {name})",
        "",
        "| form | peak MiB | step s | loss |",
        "|---|---|---|---|",
        f"| fold (optimize, memory_budget=0) | {peak(fold_c) / 2**20:,.0f} | {seconds:.1f} |"
        f" {float(value):.4f} |",
        f"| materialised (compiled, not run) | {peak(dense_c) / 2**20:,.0f} | | |",
    ]


def report(args: argparse.Namespace) -> str:
    if args.quick:
        parts = [speed(64, 2, 8, 16, 3), long_context([128], 32), llama_step(64, 16, True)]
    else:
        seqs = [32_768, 65_536] if args.long else [32_768]
        parts = [
            speed(4_096, 4, 64, args.block, args.rounds),
            long_context(seqs, args.block),
            llama_step(8_192, args.block, False),
        ]
    head = [
        f"jax {jax.__version__}, {platform.machine()}, {jax.devices()[0].platform};"
        " command: `python benchmarks/attention_memory.py" + (" --long" if args.long else "") + "`",
        "",
    ]
    return "\n".join(head + [line for part in parts for line in [*part, ""]]).rstrip() + "\n"


def write(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n## Attention in linear memory\n\n{text}{END}"
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + block + old[old.index(END) + len(END) :]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    ap.add_argument("--long", action="store_true", help="also context 65,536 (minutes)")
    ap.add_argument("--block", type=int, default=512, help="the fold's block length")
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds at 4,096")
    ap.add_argument("--out", type=Path, help="also write the section into this Markdown file")
    args = ap.parse_args(argv)
    text = report(args)
    print(text)
    if args.out:
        write(args.out, text)


if __name__ == "__main__":
    main()
