"""backends.jax.core.sharding: rules as data here; 8 simulated devices in a subprocess.

The rest of the suite runs in one process on one device, and jax fixes its
device count when it starts, so the sharded runs (``_sharding_run.py``) go in a
child process with ``XLA_FLAGS=--xla_force_host_platform_device_count=8``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P

from backends.jax import batched, init, sharding
from topos import nn

ROOT = Path(__file__).resolve().parents[3]
TOL = 1e-5


def test_rules_name_the_megatron_axes() -> None:
    axes = sharding.logical_axes(nn.transformer(64, 8, 16, 2, 2))
    assert axes["blocks.attn.q.w"] == ("layers", "embed", "heads")
    assert axes["blocks.attn.o.w"] == ("layers", "heads", "embed")
    assert axes["blocks.mlp.fc1.w"] == ("layers", "embed", "mlp")
    assert axes["blocks.mlp.fc2.w"] == ("layers", "mlp", "embed")
    assert axes["embed.table"] == ("vocab", "embed")
    assert axes["head.w"] == ("embed", "vocab")


def test_spec_priority_divisibility_and_one_use_per_mesh_axis() -> None:
    mesh = sharding.abstract_mesh("2x4")
    # heads is before embed in the rules: it takes "model", embed then cannot
    assert sharding.spec(("embed", "heads"), (8, 8), mesh) == P(None, "model")
    # FSDP: embed falls through to "data"
    assert sharding.spec(("embed", "heads"), (8, 8), mesh, sharding.FSDP) == P("data", "model")
    # 4 does not divide 6: the axis stays whole; a size-1 mesh axis splits nothing
    assert sharding.spec(("vocab", "embed"), (6, 8), mesh) == P(None, "model")
    assert sharding.spec(("embed", "heads"), (8, 8), sharding.abstract_mesh("8x1")) == P(None, None)


def test_override_comes_first() -> None:
    rules = sharding.MEGATRON.override(params=[("*fc1.w", ("embed", None))])
    axes = sharding.logical_axes(nn.transformer(64, 8, 16, 2, 1), rules)
    assert axes["blocks.mlp.fc1.w"] == ("layers", "embed", None)


def test_a_rule_of_the_wrong_rank_names_the_parameter() -> None:
    rules = sharding.MEGATRON.override(params=[("head.w", ("vocab",))])
    with pytest.raises(ValueError, match="'head.w' has 2 axes"):
        sharding.logical_axes(nn.transformer(64, 8, 16, 2, 1), rules)


def test_make_mesh_says_how_to_get_devices() -> None:
    with pytest.raises(ValueError, match="xla_force_host_platform_device_count"):
        sharding.make_mesh(f"{jax.device_count() + 1}x1")


def test_sharded_init_is_the_plain_init_on_one_device() -> None:
    p = nn.transformer(64, 8, 16, 2, 1)
    plain = init(p, jax.random.key(3))
    placed = init(p, jax.random.key(3), mesh=sharding.make_mesh("1x1"))
    assert all(bool((plain[k] == placed[k]).all()) for k in plain)
    via_init = init(p, jax.random.key(3), mesh=sharding.make_mesh("1x1"))
    assert all(bool((plain[k] == via_init[k]).all()) for k in plain)


def test_a_mesh_with_explicit_axes_is_refused_with_the_fix() -> None:
    # jax.make_mesh's default (Explicit axes) initialised, then the forward pass raised a raw
    # ShardingTypeError about a gather (issue 22, item 13)
    p = nn.transformer(vocab=16, seq=4, d=8, heads=2, layers=1)
    explicit = jax.make_mesh((1, 1), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)
    fix = r"are \(Explicit, Explicit\); .*jax\.make_mesh\(\(1, 1\), \('data', 'model'\), axis_types"
    with pytest.raises(
        ValueError, match=re.escape("init: the mesh's axes ('data', 'model') ") + fix
    ):
        init(p, jax.random.key(0), mesh=explicit)
    with pytest.raises(ValueError, match="batched: .*" + fix):
        batched(p, explicit)
    with pytest.raises(ValueError, match="shard_batch: .*" + fix):
        sharding.shard_batch(jnp.zeros((2, 4)), explicit)
    with pytest.raises(ValueError, match="fit: .*" + fix):
        sharding.place_state(explicit, None, [], [], (), [])
    auto = jax.make_mesh((1, 1), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    assert init(p, jax.random.key(0), mesh=auto)["head.w"].sharding.mesh == auto


def test_param_bytes_counts_shards() -> None:
    mesh = sharding.make_mesh("1x1")
    shapes = {"w": jax.ShapeDtypeStruct((4, 8), jnp.float32)}
    s = {"w": sharding.NamedSharding(mesh, P(None, "model"))}
    assert sharding.param_bytes(shapes, s) == sharding.param_bytes(shapes) == 128


@pytest.fixture(scope="module")
def runs() -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("_sharding_run.py"))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stderr)  # the figures per mesh, for `pytest -s`
    return json.loads(done.stdout.strip().splitlines()[-1])


MESHES = ("8x1", "4x2", "2x4", "1x8")


@pytest.mark.parametrize("shape", MESHES)
def test_sharded_equals_single_device(runs: dict[str, Any], shape: str) -> None:
    r = runs["meshes"][shape]
    assert r["init_equal"]
    assert r["loss_diff"] <= TOL and r["grad_diff"] <= TOL
    assert r["fit_diff"] <= TOL and r["fit_loss_diff"] <= TOL


@pytest.mark.parametrize("shape", MESHES)
def test_each_parameter_is_sharded_as_the_rules_say(runs: dict[str, Any], shape: str) -> None:
    r = runs["meshes"][shape]
    assert r["specs_as_rules"]


def test_collectives_are_the_expected_ones(runs: dict[str, Any]) -> None:
    m = runs["meshes"]
    # pure data parallel: gradients are all-reduced, no weight is gathered
    assert m["8x1"]["collectives"]["all-reduce"] > 0
    assert m["8x1"]["collectives"]["all-gather"] == 0
    # tensor parallel: the partial sums of the row-parallel matmuls are all-reduced
    assert m["1x8"]["collectives"]["all-reduce"] > 0
    for shape in MESHES:
        assert m[shape]["gathered_params"] == [], (shape, m[shape]["gathered_params"])


def test_fsdp_equals_single_device(runs: dict[str, Any]) -> None:
    r = runs["fsdp_4x2"]
    assert r["specs_as_rules"] and r["loss_diff"] <= TOL and r["fit_diff"] <= TOL


def test_checkpoint_resumes_exactly_and_onto_another_mesh(runs: dict[str, Any]) -> None:
    c = runs["checkpoint"]
    assert c["saved_step"] == 2 and c["restored_exact"]
    assert c["resume_same_mesh_bit_identical"]
    assert c["resume_other_mesh_diff"] <= TOL and c["resumed_specs_2x4"]


def test_on_several_devices_a_bad_id_makes_its_example_nan(runs: dict[str, Any]) -> None:
    # under jit the ids were clamped; a raising check would stall the other devices and abort
    r = runs["bad_ids"]
    assert r["good_finite"] and r["bad_row_nan"] and r["other_rows_equal"]
    assert (
        "init: the mesh's axes ('data', 'model') are (Explicit, Explicit)" in r["explicit_refused"]
    )
