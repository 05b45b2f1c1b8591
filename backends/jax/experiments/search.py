"""Architecture search over the grammar of ``topos.nn.grammar``: train briefly, classify, record.

Each candidate spec is built into a diagram, classified by ``analyze`` (where it
lives: PL pretopos or topos completion), counted in parameters, and trained on the
two in-context tasks of ``backends.jax.experiments.icl`` that need input-dependent weighting,
both as token matrices ``R(11, 11)`` with a scalar target:

- ``regression``: in-context linear regression, ``d_x = 10``, ``N = 10``;
- ``recall``: associative recall, 10 pairs ``(one-hot key, value ~ N(0, 1))``.

Every (task, seed) pair trains side by side in one compiled program (one compile
per candidate). The score is the test loss divided by the loss of predicting zero
(1 = learned nothing, 0 = perfect). ``search`` appends one JSON line per candidate
to ``results.jsonl`` and skips the candidates already there: it resumes.

>>> import random, tempfile
>>> from pathlib import Path
>>> from topos.nn.grammar import random_spec
>>> out = Path(tempfile.mkdtemp())
>>> rows = search(out, candidates=1, steps=10, seeds=1, batch=8, test_size=16, say=None)
>>> rows[0]["lives_in"] in ("PL pretopos", "topos completion"), len(load(out))
(True, 1)
"""

from __future__ import annotations

import functools
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from backends.jax.core.params import init
from backends.jax.experiments.icl import Task, predictor, recall_np, regression_np, squared_error
from topos.analysis import analyze
from topos.nn.grammar import architecture, random_spec, show
from topos.para import Para

__all__ = [
    "COMPILER_OPTIONS",
    "SEQ",
    "TASKS",
    "WIDTH_IN",
    "candidate",
    "evaluate",
    "load",
    "search",
    "spec_of",
]

#: Tokens per problem (10 context tokens and the query) and the token width.
SEQ, WIDTH_IN = 11, 11
#: The tasks, in the order of their ids.
TASKS = ("regression", "recall")
#: XLA options of a candidate's program: its compile dominates a search, and level 1
#: (of 0-3) halves it against the default for the same run time (measured: 8.5 s ->
#: 2.9 s compiling a 330-parameter candidate, 30 s -> 16 s a 33k-parameter one).
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def _draw(rng: np.random.Generator, task: int, lead: tuple[int, ...]) -> tuple[Any, Any]:
    if TASKS[task] == "regression":
        return regression_np(rng, lead, n=SEQ - 1, d_x=WIDTH_IN - 1)
    return recall_np(rng, lead, pairs=SEQ - 1, keys=WIDTH_IN - 1, d_v=1)


@functools.lru_cache(maxsize=4)
def _data(steps: int, batch: int, seeds: int, test_size: int) -> tuple[Task, Task]:
    """Every run's batches ``(steps, runs, batch, ...)`` and test problems ``(runs, size, ...)``.

    Drawn once with NumPy (nothing to compile) and shared by all candidates: run
    ``r`` trains on task ``r // seeds``; the test problems are one fixed set per task.
    """
    train_z, train_y, test_z, test_y = [], [], [], []
    for task in range(len(TASKS)):
        test = _draw(np.random.default_rng([12345, task]), task, (test_size,))
        for seed in range(seeds):
            z, y = _draw(np.random.default_rng([1, task, seed]), task, (steps, batch))
            train_z.append(z)
            train_y.append(y)
            test_z.append(test[0])
            test_y.append(test[1])
    train = Task(jnp.asarray(np.stack(train_z, 1)), jnp.asarray(np.stack(train_y, 1)))
    return train, Task(jnp.asarray(np.stack(test_z)), jnp.asarray(np.stack(test_y)))


def spec_of(index: int, seed: int = 0) -> tuple[Any, ...]:
    """The ``index``-th candidate of the search with ``seed``: even first order, odd higher.

    Args:
        index: the candidate's number.
        seed: the search's seed.

    Returns:
        The architecture spec (deterministic in ``(seed, index)``: resumable).

    >>> from topos.nn.grammar import higher_order
    >>> higher_order(spec_of(0)), higher_order(spec_of(1)), spec_of(5) == spec_of(5)
    (False, True, True)
    """
    rng = random.Random(seed * 1_000_003 + index)
    return random_spec(rng, first_order=index % 2 == 0)


def evaluate(
    spec: tuple[Any, ...],
    *,
    steps: int,
    seeds: int,
    batch: int = 128,
    learning_rate: float = 3e-3,
    test_size: int = 1024,
) -> dict[str, Any]:
    """Train ``spec`` on every task with ``seeds`` seeds; the normalised test losses.

    Args:
        spec: an architecture spec (``topos.nn.grammar``).
        steps: Adam steps per run.
        seeds: initialisations per task.
        batch: problems per step.
        learning_rate: Adam's learning rate.
        test_size: test problems per task (one fixed draw, shared by all candidates).

    Returns:
        ``{task: [score per seed]}`` (test loss / loss of predicting 0).

    >>> r = evaluate(("arch", 4, ("mix",)), steps=10, seeds=2, batch=8, test_size=16)
    >>> sorted(r), len(r["recall"])
    (['recall', 'regression'], 2)
    """
    data, test = _data(steps, batch, seeds, test_size)
    keys = jax.random.split(jax.random.key(0), len(TASKS) * seeds)
    values = [float(v) for v in _cached(json.dumps(spec), learning_rate)(keys, data, test)]
    return {name: values[i * seeds : (i + 1) * seeds] for i, name in enumerate(TASKS)}


@functools.lru_cache(maxsize=8)
def _cached(spec: str, learning_rate: float) -> Callable[[jax.Array, Task, Task], jax.Array]:
    """``_program`` of a spec (as JSON), kept: evaluating a spec again does not recompile."""
    p = architecture(tuple(json.loads(spec)), seq=SEQ, d_in=WIDTH_IN, d_out=1)
    return _program(p, learning_rate)


def _program(p: Para, learning_rate: float) -> Callable[[jax.Array, Task, Task], jax.Array]:
    """One compiled program per candidate: init every run, all Adam steps (a scan), the scores.

    A candidate's cost is its compile, so everything it does is one program: the
    runs (task × seed) train side by side (``vmap``), the steps are a ``lax.scan``
    over the precomputed batches, and the normalised test losses come out.
    """
    import optax

    pred = predictor(p, 1)
    opt = optax.adam(learning_rate)

    def loss(ps: Any, z: jax.Array, y: jax.Array) -> jax.Array:
        return squared_error(jax.vmap(lambda zi: pred(ps, zi))(z), y)

    def one(ps: Any, state: Any, z: jax.Array, y: jax.Array) -> Any:
        value, grads = jax.value_and_grad(loss)(ps, z, y)
        updates, state = opt.update(grads, state, ps)
        return optax.apply_updates(ps, updates), state

    def step(carry: Any, batch: Task) -> Any:
        ps, state = carry
        return jax.vmap(one)(ps, state, batch.z, batch.y), None

    def score(ps: Any, z: jax.Array, y: jax.Array) -> jax.Array:
        return loss(ps, z, y) / squared_error(jnp.zeros_like(y), y)

    @functools.partial(jax.jit, compiler_options=COMPILER_OPTIONS)
    def run(keys: jax.Array, data: Task, test: Task) -> jax.Array:
        ps = jax.vmap(lambda k: init(p, k))(keys)
        (ps, _), _ = jax.lax.scan(step, (ps, jax.vmap(opt.init)(ps)), data)
        scores: jax.Array = jax.vmap(score)(ps, test.z, test.y)
        return scores

    return run


def candidate(index: int, seed: int, **train_args: Any) -> dict[str, Any]:
    """Build, classify, count and train the ``index``-th candidate: one JSON-ready record.

    Args:
        index: the candidate's number.
        seed: the search's seed.
        **train_args: passed to ``evaluate`` (``steps``, ``seeds``, ...).

    Returns:
        ``{index, spec, show, lives_in, order, cls, params, scores, seconds}``, as
        JSON reads it back (the spec as nested lists).

    >>> r = candidate(0, 0, steps=10, seeds=1, batch=8, test_size=16)
    >>> r["lives_in"], r["order"]
    ('PL pretopos', 'first')
    """
    t0 = time.perf_counter()
    spec = spec_of(index, seed)
    p = architecture(spec, seq=SEQ, d_in=WIDTH_IN, d_out=1)
    report = analyze(p)
    scores = evaluate(spec, **train_args)
    record = {
        "index": index,
        "spec": spec,
        "show": show(spec),
        "lives_in": report.lives_in,
        "order": report.order,
        "cls": report.cls,
        "params": p.num_params(),
        "scores": scores,
        "seconds": time.perf_counter() - t0,
    }
    return dict(json.loads(json.dumps(record)))  # as stored: the spec as nested lists


def load(out: Path) -> list[dict[str, Any]]:
    """The records stored so far in ``out/results.jsonl`` (none if absent).

    Args:
        out: the search's output folder.

    Returns:
        The records, in file order.

    >>> import tempfile
    >>> load(Path(tempfile.mkdtemp()))
    []
    """
    path = Path(out) / "results.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def search(
    out: Path,
    *,
    candidates: int,
    seed: int = 0,
    say: Callable[[str], None] | None = print,
    **train_args: Any,
) -> list[dict[str, Any]]:
    """Random search over the grammar, stratified by order, resumable; the records.

    Candidates ``0 .. candidates - 1`` (even: first-order grammar, odd: with a
    choose ; ev leaf); those already in ``out/results.jsonl`` are skipped, each new
    one is appended as soon as it is trained. A spec drawn again is not retrained
    (same keys and batches, so the same scores): its record copies the first one's
    with ``same_as``. ``say`` shows progress (None: quiet).

    Args:
        out: the output folder.
        candidates: the budget, in candidates.
        seed: the search's seed.
        say: where progress lines go.
        **train_args: passed to ``evaluate``.

    Returns:
        All records of the first ``candidates`` indices.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done = {r["index"]: r for r in load(out)}
    t0 = time.perf_counter()
    fresh = 0
    todo = [i for i in range(candidates) if i not in done]
    trained = {json.dumps(r["spec"]): r for r in done.values()}
    for i in todo:
        twin = trained.get(json.dumps(spec_of(i, seed)))
        if twin is None:
            record = candidate(i, seed, **train_args)
            trained[json.dumps(record["spec"])] = record
        else:  # the same spec trains on the same keys and batches: the same scores
            record = {**twin, "index": i, "same_as": twin["index"], "seconds": 0.0}
        with (out / "results.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        done[i] = record
        fresh += 1
        if say is not None:
            mean = {k: sum(v) / len(v) for k, v in record["scores"].items()}
            took = f"= #{twin['index']:<4d}" if twin else f"{record['seconds']:5.1f} s"
            eta = (time.perf_counter() - t0) / fresh * (len(todo) - fresh)
            say(f"[{len(done):3d}/{candidates}] {record['show'][:48]:48s}"
                f" {record['params']:6d} p  {record['lives_in']:16s}"
                f" reg {mean['regression']:.3f}  rec {mean['recall']:.3f}"
                f"  {took}  eta {eta:4.0f} s")  # fmt: skip
    return [done[i] for i in range(candidates)]
