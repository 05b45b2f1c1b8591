"""Zero cost: a compiled diagram is the program one writes by hand.

For composites, pairs, curry/ev round trips, a coproduct and a small MLP, the
optimised HLO of ``jax.jit(compile(f))`` equals that of the hand-written JAX
function after normalising names and metadata, and XLA's cost analysis reports
the same flops (and transcendentals and bytes accessed).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _jaxref import mlp

from backends.jax import apply, compile, init, register
from topos.arrows import Box, Id, copair, curry, ev, fst, pair, snd, swap
from topos.objects import One, R

register("test.zc.sin", lambda box, x: jnp.sin(x), cls="smooth", replace=True)
register("test.zc.tanh", lambda box, x: jnp.tanh(x), cls="smooth", replace=True)
register("test.zc.add", lambda box, v: v[0] + v[1], cls="linear", replace=True)
register("test.zc.mul", lambda box, v: v[0] * v[1], cls="polynomial", replace=True)
register("test.zc.matmul", lambda box, v: v[0] @ v[1], cls="polynomial", replace=True)
register("test.zc.exp", lambda box, x: jnp.exp(x), cls="smooth", replace=True)

A, M = R(8), R(8, 8)
sin, tanh, exp = (Box(f"test.zc.{n}", A, A) for n in ("sin", "tanh", "exp"))
add, mul = Box("test.zc.add", A * A, A), Box("test.zc.mul", A * A, A)
matmul = Box("test.zc.matmul", A * M, A)

_NAME = re.compile(r"%[\w.\-]+")
_META = re.compile(r",? ?metadata=\{[^}]*\}")
_SECTIONS = ("FileNames", "FunctionNames", "FileLocations", "StackFrames")


def normalise(hlo: str) -> str:
    """HLO text without metadata, stack-frame tables, module name; names by first use."""
    lines, skipping = [], False
    for line in hlo.splitlines():
        if line.strip() in _SECTIONS:
            skipping = True
            continue
        if skipping:
            if line.strip() == "":
                skipping = False
            continue
        if line.startswith("HloModule"):
            line = "HloModule " + line.split(",", 1)[1] if "," in line else "HloModule"
        line = _META.sub("", line)
        if " -> " in line and line.lstrip().startswith(("%", "ENTRY")):  # a signature
            line = re.sub(r"[A-Za-z_][\w.\-]*: ", "_: ", line)
        line = re.sub(r", stack_frame_id=\d+", "", line)
        lines.append(line)
    names: dict[str, str] = {}
    text = "\n".join(lines)
    return _NAME.sub(lambda m: names.setdefault(m.group(0), f"%v{len(names)}"), text)


def histogram(hlo: str) -> Counter[str]:
    ops = re.findall(r"= [^=]*? ([a-z][a-z0-9\-]*)\(", normalise(hlo))
    return Counter(ops)


def cost(compiled: Any) -> tuple[float, float, float]:
    """XLA's estimate: (flops, transcendentals, bytes accessed)."""
    out = compiled.cost_analysis()
    if isinstance(out, list):
        out = out[0]
    return tuple(float(out.get(k, 0.0)) for k in ("flops", "transcendentals", "bytes accessed"))


def assert_same_program(ours: Callable[..., Any], hand: Callable[..., Any], *args: Any) -> None:
    a = jax.jit(ours).lower(*args).compile()
    b = jax.jit(hand).lower(*args).compile()
    assert histogram(a.as_text()) == histogram(b.as_text())
    assert normalise(a.as_text()) == normalise(b.as_text())
    assert cost(a) == cost(b)
    np.testing.assert_array_equal(
        np.concatenate([np.ravel(t) for t in jax.tree.leaves(jax.jit(ours)(*args))]),
        np.concatenate([np.ravel(t) for t in jax.tree.leaves(jax.jit(hand)(*args))]),
    )


X = jnp.linspace(-1.0, 1.0, 8)
W = jnp.reshape(jnp.linspace(-0.5, 0.5, 64), (8, 8))

CASES: dict[str, tuple[Any, Callable[..., Any], Any]] = {
    "composite": (sin >> tanh >> exp, lambda x: jnp.exp(jnp.tanh(jnp.sin(x))), X),
    "pair": (pair(sin, tanh) >> mul, lambda x: jnp.sin(x) * jnp.tanh(x), X),
    "tensor_swap": (
        (sin * tanh) >> swap(A, A) >> add,
        lambda v: jnp.tanh(v[1]) + jnp.sin(v[0]),
        (X, X),
    ),
    "projections": (
        pair(fst(A, A) >> sin, snd(A, A)) >> mul,
        lambda v: jnp.sin(v[0]) * v[1],
        (X, X),
    ),
    "curry_ev": (
        curry(mul) * Id(A) >> ev(A, A),
        lambda v: v[0] * v[1],
        (X, X),
    ),
    "curry_ev_chosen_by_input": (  # the function applied is built from the input
        pair(sin >> curry(matmul.__class__("test.zc.mul", A * A, A)), tanh) >> ev(A, A),
        lambda x: jnp.sin(x) * jnp.tanh(x),
        X,
    ),
    "matmul": (matmul >> tanh, lambda v: jnp.tanh(v[0] @ v[1]), (X, W)),
    "copair": (
        copair(sin, Box("test.zc.const", One, A)),
        lambda v: jnp.where(v[0], jnp.full(8, 0.5), jnp.sin(v[1])),
        (jnp.array(True), X, ()),
    ),
}
register("test.zc.const", lambda box, _: jnp.full(8, 0.5), cls="linear", replace=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_diagrams_are_the_hand_written_program(name: str) -> None:
    arrow, hand, x = CASES[name]
    assert_same_program(compile(arrow), hand, x)


def test_vmap_of_a_compiled_diagram_is_vmap_of_the_hand_written_one() -> None:
    arrow, hand, _ = CASES["pair"]
    xs = jnp.reshape(jnp.linspace(-1, 1, 32), (4, 8))
    assert_same_program(jax.vmap(compile(arrow)), jax.vmap(hand), xs)


def test_a_small_mlp_is_the_hand_written_mlp() -> None:
    net = mlp(8, 16, 4)
    params = init(net, jax.random.key(0))

    def hand(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        h = jnp.maximum(x @ p["l0.w"] + p["l0.b"], 0)
        return h @ p["l1.w"] + p["l1.b"]

    assert_same_program(lambda p, x: apply(net, p, x), hand, params, X)
    xs = jnp.ones((5, 8))
    assert_same_program(
        jax.vmap(lambda p, x: apply(net, p, x), in_axes=(None, 0)),
        jax.vmap(hand, in_axes=(None, 0)),
        params,
        xs,
    )


def test_the_normalisation_still_tells_programs_apart() -> None:
    a = jax.jit(lambda x: jnp.sin(x) * 2).lower(X).compile().as_text()
    b = jax.jit(lambda x: jnp.cos(x) * 2).lower(X).compile().as_text()
    assert normalise(a) != normalise(b) and histogram(a) != histogram(b)
