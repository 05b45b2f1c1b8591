"""Time and memory of the core on large inputs: long chains, deep nesting, shared documents.

Each case runs in its own subprocess with a wall-clock timeout, so a case that
recurses too deeply or runs for minutes reports ``RecursionError`` or ``> Ns``
instead of stopping the table. Each row is the wall-clock time of one run and the
peak resident memory of its process (building the input included); a case that
is refused (``TooLarge``) says so.

    .venv/bin/python benchmarks/large_inputs.py [--timeout 60] [--only NAME ...] [--compare DIR]

Run it from the root of the checkout to measure (it imports ``topos`` from there).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap

SETUP = textwrap.dedent(
    """
    import sys, time, json
    from topos import R, Box, Id, curry, equal
    from topos.arrows import compose
    from topos.serial import dumps, loads
    A = R(2)

    def chain(n):
        h = Box("h", A, A)
        out = h
        for _ in range(n - 1):
            out = out >> h
        return out

    def chain2(n):  # equal to chain(n), built separately (no shared nodes)
        return compose(*[Box("h", A, A) for _ in range(n)])

    def curries(n, detour=False):
        from topos.arrows import copy, fst
        x = A
        for i in range(n):
            x = x * R(1)
        f = Box("m", x, A)
        if detour:  # equal to the plain one, but not ==: equal must normalise
            f = copy(x) >> fst(x, x) >> f
        for _ in range(n):
            f = curry(f)
        return f

    def unrolled(n):
        from topos.nn import linear, tanh
        from topos.para import repeat, unroll
        return unroll(repeat(linear(2, 2) >> tanh(2), n))

    def residual_unrolled(n):
        from topos.nn import linear, residual, tanh
        from topos.para import repeat, unroll
        return unroll(repeat(residual(linear(2, 2) >> tanh(2)), n))

    def shared_doc(k=60):
        # Two equal, separately stored objects with 2**k factors each: g: R(1) -> X
        # then f: X' -> R(1), so composing compares X with X'.
        nodes = [{"kind": "R", "shape": [1], "dtype": "float32"}]
        tops = []
        for _ in range(2):
            prev = 0
            for i in range(k):
                nodes.append({"kind": "product", "left": prev, "right": prev})
                prev = len(nodes) - 1
            tops.append(prev)
        n = len(nodes)
        nodes.append({"kind": "box", "name": "g", "dom": 0, "cod": tops[0], "attrs": {}})
        nodes.append({"kind": "box", "name": "f", "dom": tops[1], "cod": 0, "attrs": {}})
        nodes.append({"kind": "compose", "arrows": [n, n + 1]})
        return json.dumps({"topos": 1, "nodes": nodes, "root": n + 2})

    def repeat_of(n):  # the report's document: a repeat of n layers around a 2x2 layer
        from topos.arrows import Repeat
        return Repeat(Box("layer", R(2, 2) * A, A), n)

    def refusing(fn):  # a refusal (TooLarge) is a result: say so, and how long it took
        def go():
            try:
                fn()
            except ValueError as e:
                print('refused:', str(e)[:70], file=sys.stderr)
        return go

    def timed(fn):
        import resource
        t = time.perf_counter()
        fn()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # of the process
        print(f"{time.perf_counter() - t:.3f} s, {peak:.0f} MiB")
    """
)

CASES: dict[str, str] = {
    "chain 100k: build": "timed(lambda: chain(100_000))",
    "chain 100k: ==": "f, g = chain(100_000), chain2(100_000); timed(lambda: f == g)",
    "chain 100k: str": "f = chain(100_000); timed(lambda: str(f))",
    "chain 100k: equal": "f, g = chain(100_000), chain2(100_000); timed(lambda: equal(f, g))",
    "chain 100k: dumps+loads": "f = chain(100_000); timed(lambda: loads(dumps(f)))",
    "chain 100k: analyze": (
        "from topos.analysis import analyze; f = chain(100_000); timed(lambda: analyze(f))"
    ),
    "chain 100k: draw": "from topos.draw import draw; f = chain(100_000); timed(lambda: draw(f))",
    "chain 100k: compile": (
        "from backends.jax import compile\n"
        "f = compose(*[Box('tanh', A, A, cls='smooth')] * 100_000); timed(lambda: compile(f))"
    ),
    "para 2000 layers: build": "timed(lambda: unrolled(2000))",
    "para 2000 layers: ==": (
        "p, q = unrolled(2000), unrolled(2000); timed(lambda: p.arrow == q.arrow)"
    ),
    "para 2000 layers: equal": (
        "p, q = unrolled(2000), unrolled(2000); timed(lambda: equal(p.arrow, q.arrow))"
    ),
    "para 2000 layers: str": "p = unrolled(2000); timed(lambda: str(p))",
    "para 2000 layers: repr": "p = unrolled(2000); timed(lambda: repr(p))",
    "para 2000 layers: dumps": "p = unrolled(2000); timed(lambda: dumps(p))",
    "para 2000 layers: loads": "p = unrolled(2000); s = dumps(p); timed(lambda: loads(s))",
    "para 2000 layers: compile": (
        "from backends.jax import compile; p = unrolled(2000); timed(lambda: compile(p.arrow))"
    ),
    "para 2000 layers: analyze": (
        "from topos.analysis import analyze; p = unrolled(2000); timed(lambda: analyze(p.arrow))"
    ),
    "para 2000 layers: draw": (
        "from topos.draw import draw; p = unrolled(2000); timed(refusing(lambda: draw(p)))"
    ),
    "para 10000 layers: analyze": (
        "from topos.analysis import analyze; p = unrolled(10_000); timed(lambda: analyze(p))"
    ),
    "para 10000 layers: compile": (
        "from backends.jax import compile; p = unrolled(10_000); timed(lambda: compile(p.arrow))"
    ),
    "residual para 600 layers: analyze": (
        "from topos.analysis import analyze; p = residual_unrolled(600)\n"
        "timed(lambda: analyze(p.arrow))"
    ),
    "residual para 1000 layers: compile": (
        "from backends.jax import compile; p = residual_unrolled(1000)\n"
        "timed(lambda: compile(p.arrow))"
    ),
    "curry 400 deep: equal": (
        "f, g = curries(400), curries(400, detour=True); timed(lambda: equal(f, g))"
    ),
    "curry 10k deep: build": "timed(lambda: curries(10_000))",
    "curry 10k deep: ==": "f, g = curries(10_000), curries(10_000); timed(lambda: f == g)",
    "curry 10k deep: equal": (
        "f, g = curries(10_000), curries(10_000, detour=True); timed(lambda: equal(f, g))"
    ),
    "curry 10k deep: str": "f = curries(10_000); timed(lambda: str(f))",
    "curry 10k deep: repr": "f = curries(10_000); timed(lambda: repr(f))",
    "curry 10k deep: dumps+loads": "f = curries(10_000); timed(lambda: loads(dumps(f)))",
    "curry 10k deep: analyze": (
        "from topos.analysis import analyze; f = curries(10_000); timed(lambda: analyze(f))"
    ),
    "curry 2.5k deep: analyze": (
        "from topos.analysis import analyze; f = curries(2_500); timed(lambda: analyze(f))"
    ),
    "curry 5k deep: analyze": (
        "from topos.analysis import analyze; f = curries(5_000); timed(lambda: analyze(f))"
    ),
    "curry 20k deep: analyze": (
        "from topos.analysis import analyze; f = curries(20_000); timed(lambda: analyze(f))"
    ),
    "curry 600 deep, uncurried back: compile and run": (
        "import jax.numpy as jnp\n"
        "from backends.jax import compile, register\n"
        "from topos.arrows import fst, uncurry\n"
        "register('bench.inc', lambda box, v: v + 1, cls='linear', replace=True)\n"
        "f, d = Box('bench.inc', R(1), R(1)), R(1)\n"
        "for _ in range(600): f, d = fst(d, R(1)) >> f, d * R(1)\n"
        "for _ in range(600): f = curry(f)\n"
        "x = jnp.zeros(1)\n"
        "for _ in range(600): f, x = uncurry(f), (x, jnp.zeros(1))\n"
        "timed(lambda: compile(f)(x))"
    ),
    "para 500 layers: compile and run": (
        "import numpy as np, jax.numpy as jnp\n"
        "from backends.jax import compile\n"
        "from backends.jax.core.params import param_value\n"
        "p = unrolled(500)\n"
        "ps = {k: np.zeros(v.ob.shape, np.float32) for k, v in p.parameters().items()}\n"
        "timed(lambda: compile(p.arrow)((param_value(p, ps), jnp.zeros(2))))"
    ),
    "para 250 layers: draw": (
        "from topos.draw import draw; p = unrolled(250); timed(lambda: draw(p))"
    ),
    "para 500 layers: draw": (
        "from topos.draw import draw; p = unrolled(500); timed(lambda: draw(p))"
    ),
    "para 2000 layers as a repeat: draw": (
        "from topos.draw import draw\n"
        "from topos.nn import linear, tanh\n"
        "from topos.para import repeat\n"
        "p = repeat(linear(2, 2) >> tanh(2), 2000); timed(lambda: draw(p))"
    ),
    "repeat 10^5 layers: equal to a group of it": (
        "from topos import group; r = repeat_of(10**5); timed(lambda: equal(r, group('g', r)))"
    ),
    "repeat 10^9 layers: equal to a group of it": (
        "from topos import group; r = repeat_of(10**9); timed(lambda: equal(r, group('g', r)))"
    ),
    "repeat 10^9 layers: normal_form": (
        "from topos.normal import normal_form; r = repeat_of(10**9)\n"
        "timed(refusing(lambda: normal_form(r)))"
    ),
    "repeat 10^9 layers: unroll": "r = repeat_of(10**9); timed(refusing(lambda: r.unroll()))",
    "shared doc (2^60 parts): loads": (
        "s = shared_doc()\n"
        "print(len(s), 'bytes', file=sys.stderr)\n"
        "def go():\n"
        "    try:\n"
        "        loads(s)\n"
        "    except ValueError as e:\n"
        "        print('refused:', str(e)[:70], file=sys.stderr)\n"
        "timed(go)"
    ),
}


def run(name: str, timeout: float, root: str | None = None) -> str:
    code = SETUP + "\n" + CASES[name]
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=root,
        )
    except subprocess.TimeoutExpired:
        return f"> {timeout:g} s"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return last.split(":")[0][:40]
    note = " (refused)" if "refused:" in done.stderr else ""
    return done.stdout.strip().splitlines()[-1] + note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument(
        "--compare",
        metavar="DIR",
        default=None,
        help="another checkout (e.g. the code before a change): each case runs there, then"
        " here, side by side in one run",
    )
    args = parser.parse_args()
    names = [n for n in CASES if not args.only or any(o in n for o in args.only)]
    if args.compare:
        print(f"| case | {args.compare} | this checkout | (timeout {args.timeout:g} s) |")
        print("|---|---|---|---|")
        for name in names:
            before = run(name, args.timeout, args.compare)
            print(f"| {name} | {before} | {run(name, args.timeout)} | |", flush=True)
        return
    print(f"| case | time, peak memory (timeout {args.timeout:g} s) |")
    print("|---|---|")
    for name in names:
        print(f"| {name} | {run(name, args.timeout)} |", flush=True)


if __name__ == "__main__":
    main()
