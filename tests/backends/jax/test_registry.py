"""The registry of primitive boxes: registration, replacement, lookup errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from backends.jax import apply, compile, init, register
from backends.jax.core.registry import UnregisteredBox, lookup, registered
from topos import Box, R
from topos.para import Para, ones


def test_replace_reaches_arrows_compiled_before() -> None:
    register("test.registry.f", lambda box, x: x + 1.0, cls="linear")
    f = Box("test.registry.f", R(2), R(2))
    assert compile(f)(jnp.zeros(2)).tolist() == [1.0, 1.0]
    register("test.registry.f", lambda box, x: x + 2.0, cls="linear", replace=True)
    assert compile(f)(jnp.zeros(2)).tolist() == [2.0, 2.0]
    assert compile(f >> f)(jnp.zeros(2)).tolist() == [4.0, 4.0]


def test_replace_reaches_apply() -> None:
    register("test.registry.g", lambda box, v: v[0] * v[1], cls="polynomial")
    p = Para(R(2), Box("test.registry.g", R(2) * R(2), R(2)), params={"w": ones})
    params = init(p, jax.random.key(0))
    assert apply(p, params, jnp.full(2, 3.0)).tolist() == [3.0, 3.0]
    register("test.registry.g", lambda box, v: v[0] + v[1], cls="linear", replace=True)
    assert apply(p, params, jnp.full(2, 3.0)).tolist() == [4.0, 4.0]


def test_registering_another_function_needs_replace() -> None:
    register("test.registry.h", lambda box, x: x, cls="linear")
    with pytest.raises(ValueError, match="replace=True"):
        register("test.registry.h", lambda box, x: -x, cls="linear")
    assert "test.registry.h" in registered()


def test_unregistered_box_names_itself() -> None:
    with pytest.raises(UnregisteredBox, match="test.registry.none"):
        lookup(Box("test.registry.none", R(1), R(1)))
