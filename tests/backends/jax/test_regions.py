"""Activation patterns, regions, local maps, enumeration, explain, predicates, plots.

Everything numeric is checked against an independent float64 computation: the
weight-and-mask product for MLPs, ``jax.jacfwd`` of the compiled network, dense
sampling of the box, and linear programs solved with ``scipy.optimize.linprog``.
"""

from __future__ import annotations

import functools
import io
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from backends.jax import compile as jcompile
from backends.jax import init
from backends.jax.core.params import cartesian, param_value
from backends.jax.logic import (
    NotPiecewiseLinear,
    PLNet,
    explain,
    local_map,
    pattern,
    plot_regions,
    predicates,
    region,
    regions,
)
from backends.jax.logic.budget import Budget
from backends.jax.logic.explanations import _explain, box_flip, explain_reference
from backends.jax.logic.facets import facets
from backends.jax.logic.local import pattern_key
from backends.jax.logic.polyhedra import as_box, unit_rows
from topos import logic
from topos.nn import mlp, rnn, transformer
from topos.nn.zoo import ARCHITECTURES, cnn, resnet


def _params(p: Any, seed: int = 0, bias: float = 0.3) -> dict[str, Any]:
    """``init`` with random biases too, so hyperplanes do not all pass through 0."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, v in init(p, jax.random.key(seed)).items():
        v = np.asarray(v)
        out[k] = (v + bias * rng.normal(size=v.shape)).astype(v.dtype) if k.endswith(".b") else v
    return out


@pytest.fixture(scope="module")
def net2() -> PLNet:
    p = mlp([2, 16, 16, 1])
    params = _params(p, 1)
    grid = np.random.default_rng(0).uniform(-1, 1, size=(2000, 2))
    median = np.median(PLNet(p, params).record_many(grid)[0])
    params["mlp.fc3.b"] = (params["mlp.fc3.b"] - median).astype(np.float32)  # cut the box
    return PLNet(p, params)


def _keys(net: PLNet, xs: np.ndarray) -> list[bytes]:
    _, _, dec = net.record_many(xs)
    return [pattern_key(d[i] for d in dec) for i in range(len(xs))]


def _jacfwd64(p: Any, params: Any, x: np.ndarray, given: Any = None) -> np.ndarray:
    """The float64 Jacobian of the compiled diagram itself (no pattern involved)."""
    with jax.enable_x64(True):
        q = cartesian(p)
        pv = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), param_value(q, params))
        f = jcompile(q.arrow).fn.fn
        shape = q.dom.right.shape if given is not None else q.dom.shape

        def run(v: Any) -> Any:
            xv = jnp.reshape(v, shape)
            xv = xv if given is None else (jnp.asarray(given, jnp.float64), xv)
            return jnp.ravel(f((pv, xv)))

        return np.asarray(jax.jacfwd(run)(jnp.asarray(x, jnp.float64)))


# -- local maps ---------------------------------------------------------------------------


def test_local_map_is_the_product_of_weights_and_masks() -> None:
    p = mlp([3, 7, 5, 2])
    params = _params(p)
    net = PLNet(p, params)
    rng = np.random.default_rng(0)
    W = [np.asarray(params[f"mlp.fc{i}.w"], np.float64) for i in (1, 2, 3)]
    B = [np.asarray(params[f"mlp.fc{i}.b"], np.float64) for i in (1, 2, 3)]
    for x in rng.normal(size=(20, 3)):
        z1 = x @ W[0] + B[0]
        d1 = (z1 > 0).astype(float)
        z2 = (d1 * z1) @ W[1] + B[1]
        d2 = (z2 > 0).astype(float)
        J = (W[0] * d1) @ (W[1] * d2) @ W[2]  # x @ W convention: J.T here
        lm = local_map(net, x)
        np.testing.assert_allclose(lm.J, J.T, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(lm(x), net(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "name, build, shape",
    [
        ("cnn", lambda: cnn(side=6, channels=3, classes=4), (6, 6, 1)),
        ("rnn", lambda: rnn(2, 5, 3, activation="relu"), (3, 2)),
    ],
)
def test_local_map_matches_jacfwd_at_random_points(name: str, build: Any, shape: Any) -> None:
    p = build()
    params = _params(p)
    net = PLNet(p, params)
    rng = np.random.default_rng(1)
    for x in rng.normal(size=(5, int(np.prod(shape)))):
        lm = local_map(net, x)
        np.testing.assert_allclose(lm.J, _jacfwd64(p, params, x), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(lm(x), net(x), rtol=1e-9, atol=1e-12)
        # and at another point of the same region: the same affine map
        y = x + 1e-4 * rng.normal(size=x.shape)
        if pattern(net, y) == pattern(net, x):
            np.testing.assert_allclose(lm(y), net(y), rtol=1e-9, atol=1e-10)


def test_gcn_with_the_adjacency_given() -> None:
    p = ARCHITECTURES["gcn (relu)"](True)
    params = _params(p)
    adj = np.eye(5) * 0.5 + 0.1
    net = PLNet(p, params, given=adj)
    x = np.random.default_rng(2).normal(size=15)
    lm = local_map(net, x)
    np.testing.assert_allclose(lm.J, _jacfwd64(p, params, x, given=adj), rtol=1e-9, atol=1e-12)


def test_max_pool_pattern_records_the_argmax() -> None:
    p = cnn(side=4, channels=2, classes=3)
    net = PLNet(p, _params(p))
    kinds = [name for name, _ in net.sites]
    assert "max_pool" in kinds and "relu" in kinds
    dec = pattern(net, np.random.default_rng(0).normal(size=16)).decisions
    assert any(np.issubdtype(d.dtype, np.integer) for d in dec)


def test_not_piecewise_linear_names_verdict_and_witness() -> None:
    with pytest.raises(NotPiecewiseLinear, match="smooth.*witness: class"):
        PLNet(mlp([2, 3, 1], activation="tanh"), {})
    with pytest.raises(NotPiecewiseLinear, match="higher order.*topos completion"):
        PLNet(transformer(vocab=5, seq=3, d=4, heads=1, layers=1), {})


# -- regions ---------------------------------------------------------------------------------


def test_region_is_the_exact_set_of_its_pattern(net2: PLNet) -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 2)
    r = region(net2, x)
    assert r.contains(x)
    ys = rng.uniform(-1.5, 1.5, size=(3000, 2))
    same = np.array([k == pattern_key(pattern(net2, x).decisions) for k in _keys(net2, ys)])
    inside = np.array([r.contains(y, tol=0) for y in ys])
    assert same.any()
    np.testing.assert_array_equal(same, inside)


def _lp_max(c: np.ndarray, A: np.ndarray, b: np.ndarray, bounds: Any) -> float:
    res = linprog(-c, A_ub=A, b_ub=b, bounds=bounds, method="highs")
    return np.inf if res.status == 3 else float(-res.fun)


@pytest.mark.parametrize("n, box", [(2, None), (5, [-1, 1])])
def test_region_keeps_exactly_the_facets(n: int, box: Any) -> None:
    p = mlp([n, 12, 6, 2])
    net = PLNet(p, _params(p, 4))
    x = np.random.default_rng(4).uniform(-0.5, 0.5, n)
    r = region(net, x, box=box)
    _, _, dec = net.record(x)
    _, _, G, g = net.affine(dec)
    A, b, _ = unit_rows(G, g)
    bounds = [(None, None)] * n if box is None else [tuple(box)] * n
    for i in range(len(b)):  # every row is implied by the kept rows or is one of them
        pairs = zip(r.A, r.b, strict=True)
        kept = any(np.allclose(A[i], a) and np.isclose(b[i], bb) for a, bb in pairs)
        if not kept:
            assert _lp_max(A[i], r.A, r.b, bounds) <= b[i] + 1e-7
    for i in range(len(r.b)):  # every kept row cuts: without it the max crosses it
        rest = np.delete(np.arange(len(r.b)), i)
        assert _lp_max(r.A[i], r.A[rest], r.b[rest], bounds) > r.b[i] + 1e-9


def test_regions_2d_are_exact(net2: PLNet) -> None:
    found = regions(net2, [-1, 1], progress=False)
    assert found.exact
    areas = sum(abs(_area(c.polygon)) for c in found.cells)
    assert areas == pytest.approx(4.0, rel=1e-9)
    sampled = set(_keys(net2, np.random.default_rng(5).uniform(-1, 1, size=(20000, 2))))
    assert sampled <= {c.key for c in found.cells}
    for cell in found.cells[:20]:
        np.testing.assert_allclose(net2(cell.point), cell.J @ cell.point + cell.c, atol=1e-10)


def _area(poly: Any) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(x @ np.roll(y, -1) - y @ np.roll(x, -1))


def test_regions_nd_is_a_certified_lower_bound() -> None:
    p = mlp([3, 6, 1])
    net = PLNet(p, _params(p, 6))
    found = regions(net, [-1, 1], progress=False)
    keys = {c.key for c in found.cells}
    assert len(keys) == len(found.cells)
    for cell in found.cells:  # every region counted has a witness point inside the box
        assert np.all(np.abs(cell.point) <= 1)
        assert pattern_key(pattern(net, cell.point).decisions) == cell.key
    sampled = set(_keys(net, np.random.default_rng(6).uniform(-1, 1, size=(20000, 3))))
    assert sampled <= keys  # small enough that the search is complete
    short = regions(net, [-1, 1], limit=2, progress=False)
    assert len(short) == 2 and not short.exact


def test_regions_progress_goes_to_stderr(net2: PLNet, capsys: Any) -> None:
    regions(net2, [-1, 1], progress=True)
    assert "regions:" in capsys.readouterr().err


# -- explain ------------------------------------------------------------------------------------


def test_explain_rule_model_counterfactual() -> None:
    p = mlp([4, 10, 3])
    net = PLNet(p, _params(p, 7))
    rng = np.random.default_rng(7)
    for x in rng.uniform(-1, 1, size=(5, 4)):
        e = explain(net, x, box=[-2, 2])
        assert e.decision == int(np.argmax(net(x)))
        assert e.rule.contains(x)
        J, c, y, r = e.local.J, e.local.c, e.decision, e.runner_up
        margin = (J[y] - J[r]) @ x + c[y] - c[r]  # the local model is the network here
        assert margin == pytest.approx(e.outputs[y] - e.outputs[r], abs=1e-10)
        assert margin >= 0
        w = J[y] - J[r]
        biggest = max(abs(w * x))
        assert abs(e.contributions[0][1]) == pytest.approx(biggest)
        cf = e.counterfactual
        assert cf is not None and cf.verified and cf.decision != e.decision
        assert cf.distance == pytest.approx(np.abs(cf.point - x).max(), abs=1e-9)
        assert np.all(np.abs(cf.point) <= 2 + 1e-9)
        assert "counterfactual: decides" in str(e)


def test_explain_binary_output(net2: PLNet) -> None:
    xs = np.random.default_rng(8).uniform(-1, 1, size=(400, 2))
    outs = net2.record_many(xs)[0][:, 0]
    assert (outs > 0).any() and (outs <= 0).any()
    x = xs[0]
    e = explain(net2, x, box=[-1, 1])
    assert e.decision == int(net2(x)[0] > 0)
    assert e.counterfactual is not None and e.counterfactual.verified


def test_explain_without_a_flip_in_the_box() -> None:
    p = mlp([2, 8, 1])
    net = PLNet(p, _params(p, 8))  # positive on the whole box
    xs = np.random.default_rng(0).uniform(-3, 3, size=(2000, 2))
    assert (net.record_many(xs)[0] > 0).all()
    e = explain(net, [0.3, 0.1], box=[-3, 3])
    assert e.decision == 1 and e.counterfactual is None
    assert "none found" in str(e)


# -- the fast certificates agree with linear programs ----------------------------------------------


def _lp_only_facets(A: np.ndarray, b: np.ndarray, bounds: Any) -> set[int]:
    """Row ``i`` is a facet iff, without it, ``max a_i y`` over the rest and the box exceeds
    ``b_i`` (rows here are distinct: random weights)."""
    out = set()
    for i in range(len(b)):
        rest = np.delete(np.arange(len(b)), i)
        if _lp_max(A[i], A[rest], b[rest], bounds) > b[i] + 1e-9:
            out.add(i)
    return out


@functools.cache
def _facet_net(k: int) -> PLNet:
    n, widths = [(8, [16]), (5, [8, 6])][k]
    p = mlp([n, *widths, 3])
    return PLNet(p, _params(p, 30 + k))


@settings(max_examples=8, deadline=None)
@given(k=st.integers(0, 1), seed=st.integers(0, 10_000), unit_box=st.booleans())
def test_facets_equal_the_lp_only_reference(k: int, seed: int, unit_box: bool) -> None:
    net = _facet_net(k)
    n = net.n
    rng = np.random.default_rng(seed)
    box = [0.0, 1.0] if unit_box else [-1.0, 1.0]
    x = rng.uniform(*box, n)
    if unit_box:  # like images: some inputs on the box's boundary
        x[rng.random(n) < 0.3] = 0.0
    _, _, dec = net.record(x)
    _, _, G, g = net.affine(dec)
    A, b, _ = unit_rows(G, g)
    lo, hi = as_box(box, n)
    fast = set(facets(A, b, lo, hi, x).tolist())
    assert fast == set(facets(A, b, lo, hi, x, reference=True).tolist())
    assert fast == _lp_only_facets(A, b, [tuple(box)] * n)


@settings(max_examples=40, deadline=None)
@given(
    # away from the LP solver's tolerances (1e-7): tiny weights and gaps are ties to it
    w=st.lists(
        st.one_of(st.just(0.0), st.floats(1e-2, 3), st.floats(-3, -1e-2)), min_size=1, max_size=6
    ),
    gap=st.one_of(st.floats(-1, 0), st.floats(1e-3, 5)),
    seed=st.integers(0, 1000),
)
def test_box_flip_is_the_box_only_lp(w: list[float], gap: float, seed: int) -> None:
    n = len(w)
    rng = np.random.default_rng(seed)
    down, up = rng.uniform(0, 2, n), rng.uniform(0, 2, n)
    down[rng.random(n) < 0.2] = np.inf
    wv = np.array(w)
    t = box_flip(wv, gap, down, up)
    # min s  s.t.  w . d <= -gap,  -s <= d_i <= s,  -down_i <= d_i <= up_i
    eye = np.eye(n)
    A = np.r_[np.c_[wv[None], 0.0], np.c_[eye, -np.ones(n)], np.c_[-eye, -np.ones(n)]]
    bounds = [(-dn if np.isfinite(dn) else None, u) for dn, u in zip(down, up, strict=True)]
    res = linprog(
        np.r_[np.zeros(n), 1.0],
        A_ub=A,
        b_ub=np.r_[-gap, np.zeros(2 * n)],
        bounds=[*bounds, (0, None)],
        method="highs",
    )
    if res.status == 2:
        assert t == np.inf
    else:
        assert res.status == 0
        assert t == pytest.approx(res.fun, abs=1e-9)


def test_explain_equals_the_reference_path() -> None:
    compared = 0
    for k in (0, 1):
        net = _facet_net(k)
        for x in np.random.default_rng(k).uniform(0, 1, size=(4, net.n)):
            e, r = explain(net, x, box=[0, 1]), explain_reference(net, x, box=[0, 1])
            assert e.rule.names == r.rule.names
            np.testing.assert_array_equal(e.rule.A, r.rule.A)
            if r.counterfactual is None:
                assert e.counterfactual is None
                continue
            cf = e.counterfactual
            assert cf is not None and cf.verified and cf.decision != e.decision
            assert cf.distance == pytest.approx(r.counterfactual.distance, abs=1e-7)
            assert cf.distance == pytest.approx(np.abs(cf.point - x).max(), abs=1e-9)
            compared += 1
    assert compared >= 4


# -- explain within a time budget ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_resnet() -> PLNet:
    """The zoo's ResNet on 6x6 inputs, one residual block of 2 channels: about 300 branch
    conditions, enough for the ray and Clarkson path, small enough for a test."""
    p = resnet(side=6, channels=2, blocks=1)
    return PLNet(p, _params(p, 11))


def _image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, 36)
    x[rng.random(36) < 0.3] = 0.0  # like a digit: some pixels on the box's boundary
    return x


class _Countdown(Budget):
    """A budget that runs out after ``checks`` calls of ``expired``: a deterministic cut."""

    def __init__(self, checks: int) -> None:
        super().__init__(None, progress=False)
        self.checks = checks

    def expired(self) -> bool:
        self.checks -= 1
        self.ran_out = self.ran_out or self.checks < 0
        return self.ran_out


def test_explain_without_time_says_what_it_did_not_do(small_resnet: PLNet) -> None:
    x = _image(0)
    e = explain(small_resnet, x, box=[0, 1], budget=0.0)
    assert not e.complete and not e.searched and e.counterfactual is None
    assert e.undecided.all() and e.rule.contains(x)  # every row kept: the region is exact
    assert e.decision == int(np.argmax(small_resnet(x)))  # the decision and local model come
    assert e.local.J.shape == (10, 36)  # first, whatever the budget
    text = str(e)
    assert "not yet classified" in text and "budget 0 s reached" in text
    assert "counterfactual: none found before the budget ran out" in text


def test_explain_cut_short_keeps_every_facet(small_resnet: PLNet) -> None:
    x = _image(1)
    whole = explain(small_resnet, x, box=[0, 1], budget=None, steps=2)
    assert whole.complete and not whole.undecided.any()
    for checks in (3, 40, 200):
        part = _explain(small_resnet, x, [0, 1], 5, 2, False, _Countdown(checks))
        assert not part.complete and part.undecided.any()
        assert set(whole.rule.names) <= set(part.rule.names)  # no facet dropped
        certified = {nm for nm, u in zip(part.rule.names, part.undecided, strict=True) if not u}
        assert certified <= set(whole.rule.names)  # what it calls a facet is one
        assert f"{len(part.rule) - int(part.undecided.sum())} of the rule's" in part.verdict()


def test_explain_with_an_ample_budget_is_the_unbounded_one(small_resnet: PLNet) -> None:
    for seed in (2, 3):
        x = _image(seed)
        e = explain(small_resnet, x, box=[0, 1], budget=None, steps=3)
        f = explain(small_resnet, x, box=[0, 1], budget=3600.0, steps=3)
        assert e.complete and f.complete
        assert e.rule.names == f.rule.names
        np.testing.assert_array_equal(e.rule.A, f.rule.A)
        assert (e.counterfactual is None) == (f.counterfactual is None)
        if e.counterfactual is not None and f.counterfactual is not None:
            assert e.counterfactual.distance == f.counterfactual.distance
        assert "budget: complete in" in str(f)


def test_a_counterfactual_cut_short_is_not_called_nearest() -> None:
    p = mlp([4, 12, 6])  # five rivals, no box: their bounds rarely prune one another
    net = PLNet(p, _params(p, 3))
    labelled = 0
    for x in np.random.default_rng(0).uniform(0, 1, size=(12, net.n)):
        # one check to enter the region, one before the first rival's LP, then none
        e = _explain(net, x, None, 5, 20, False, _Countdown(2))
        cf = e.counterfactual
        assert not e.complete
        if cf is not None and not cf.nearest:
            assert cf.verified and "not proven nearest in its region (budget)" in str(e)
            labelled += 1
    assert labelled >= 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_explain_progress_goes_where_asked(small_resnet: PLNet, capsys: Any) -> None:
    x = _image(4)
    plain = io.StringIO()
    explain(small_resnet, x, box=[0, 1], budget=None, steps=2, progress=plain)
    lines = plain.getvalue().splitlines()
    assert any(line.startswith("explain: counterfactual: regions: 2/2") for line in lines)
    assert any(line.startswith("explain: rule: facets: ") for line in lines)
    assert lines[-1].startswith("explain: budget: complete in")
    screen = _Terminal()
    explain(small_resnet, x, box=[0, 1], budget=None, steps=2, progress=screen)
    assert "explain: rule: facets" in screen.getvalue() and "\x1b[" in screen.getvalue()
    explain(small_resnet, x, box=[0, 1], budget=None, steps=2)  # stderr is not a terminal
    explain(small_resnet, x, box=[0, 1], budget=None, steps=2, progress=False)
    out = capsys.readouterr()
    assert out.err == "" and out.out == ""


# -- the Boolean algebra ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def algebra(net2: PLNet) -> Any:
    return predicates(net2, regions(net2, [-1, 1], progress=False))


def _formulas(pr: Any) -> Any:
    atoms = st.sampled_from([*pr.units.values(), *pr.decisions])
    return st.recursive(
        atoms,
        lambda sub: st.one_of(
            st.builds(logic.both, sub, sub),
            st.builds(logic.either, sub, sub),
            st.builds(logic.entails, sub, sub),
            st.builds(logic.negation, sub),
        ),
        max_leaves=6,
    )


def test_boolean_laws_hold_exactly(algebra: Any) -> None:
    F = algebra.model
    forms = _formulas(algebra)

    @settings(max_examples=60, deadline=None)
    @given(forms, forms, forms)
    def laws(p: Any, q: Any, r: Any) -> None:
        assert logic.holds(F, logic.either(p, logic.negation(p)))  # excluded middle
        assert F(logic.negation(logic.negation(p))) == F(p)  # double negation
        assert F(logic.negation(logic.both(p, q))) == F(
            logic.either(logic.negation(p), logic.negation(q))
        )  # De Morgan
        assert F(logic.both(p, logic.either(q, r))) == F(
            logic.either(logic.both(p, q), logic.both(p, r))
        )  # distributivity
        assert F(logic.entails(p, q)) == F(logic.either(logic.negation(p), q))  # Boolean ⇒
        assert logic.valid_entailment(F, logic.both(p, q), p)

    laws()


def test_predicates_mean_what_they_say(net2: PLNet, algebra: Any) -> None:
    names = net2.row_names()
    for x in np.random.default_rng(9).uniform(-1, 1, size=(50, 2)):
        out, rows, dec = net2.record(x)
        atom = algebra.atom(net2, x)
        for i, name in enumerate(names):
            active = bool(np.concatenate(dec)[i])
            assert algebra.model(algebra.units[name])(atom) == active
        decided = int(out[0] > 0)
        assert algebra.model(algebra.decisions[decided])(atom)
        assert not algebra.model(algebra.decisions[1 - decided])(atom)


# -- pictures ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_plot_regions_writes_the_file(net2: PLNet, tmp_path: Any, suffix: str) -> None:
    out = tmp_path / f"regions.{suffix}"
    fig = plot_regions(net2, [-1, 1], str(out), points=np.zeros((1, 2)), labels=[1])
    assert out.stat().st_size > 1000
    assert "activation regions" in fig.axes[0].get_title()


def test_plot_regions_needs_two_inputs() -> None:
    p = mlp([3, 4, 1])
    with pytest.raises(ValueError, match="2 inputs"):
        plot_regions(PLNet(p, _params(p)), [-1, 1])
