"""explain_two_level: the maps attention chose at x, then the PL explanation of the rest."""

from __future__ import annotations

import sys

import jax
import numpy as np
import pytest

from backends.jax import apply, init
from backends.jax.core.registry import registered
from backends.jax.logic import PLNet, explain_two_level
from topos import R
from topos.analysis import analyze
from topos.nn import attention, mlp
from topos.nn import primitives as P
from topos.para import Para

SEQ, D = 4, 3


@pytest.fixture(scope="module")
def model() -> tuple[Para, dict]:
    p = (
        attention(SEQ, D, 1, bias=False)
        >> Para.lift(P.reshape(R(SEQ, D), SEQ * D))
        >> mlp([SEQ * D, 8, 3])
    )
    return p, init(p, jax.random.key(0))


def test_level_one_is_the_attention_pattern_and_level_two_the_frozen_pl_net(model) -> None:
    p, params = model
    x = np.asarray(jax.random.normal(jax.random.key(1), (SEQ * D,)), np.float64)
    two = explain_two_level(p, params, x)
    assert "pl.tap" not in registered()  # the taps ran in the call's own functor
    (chosen,) = two.chosen
    assert chosen.where == "attn" and chosen.value.shape == (SEQ, SEQ)
    np.testing.assert_allclose(chosen.value.sum(axis=-1), 1.0, rtol=1e-5)  # softmax rows
    assert (chosen.value > 0).all()
    # the frozen network is PL (the softmax only computed the chosen map: dead now)
    assert analyze(p).lives_in == "topos completion"
    assert analyze(two.frozen).lives_in == "PL pretopos"
    frozen = PLNet(two.frozen, params)
    original = np.ravel(apply(p, params, x.reshape(SEQ, D)))
    np.testing.assert_allclose(frozen(x), original, rtol=1e-5, atol=1e-6)  # equal at x
    # elsewhere the frozen net is the original with A fixed: differs in general
    y = x + 0.5
    assert not np.allclose(frozen(y), np.ravel(apply(p, params, y.reshape(SEQ, D))), atol=1e-4)
    # level 2 is an exact explanation of the frozen network
    rest = two.rest
    assert rest.rule.contains(x)
    np.testing.assert_allclose(rest.local(x), frozen(x), atol=1e-9)
    assert rest.counterfactual is not None and rest.counterfactual.verified
    text = str(two)
    assert text.startswith("level 1: 1 linear map(s) chosen by the input at x")
    assert "in attn: shape (4, 4)" in text and "level 2:" in text


def test_the_old_module_path_still_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "backends.jax.regions", raising=False)  # warn afresh
    with pytest.warns(DeprecationWarning, match="backends.jax.logic"):
        from backends.jax.regions import explain_two_level as old
    assert old is explain_two_level
