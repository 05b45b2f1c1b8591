"""Architecture search over the grammar of ``topos.nn.grammar``: train briefly, classify, record.

Each candidate spec is built into a diagram, classified by ``analyze`` (where it
lives: PL pretopos or topos completion), counted in parameters, and trained on the
two in-context tasks of ``backends.jax.icl`` that need input-dependent weighting,
both as token matrices ``R(11, 11)`` with a scalar target:

- ``regression``: in-context linear regression, ``d_x = 10``, ``N = 10``;
- ``recall``: associative recall, 10 pairs ``(one-hot key, value ~ N(0, 1))``.

Every (task, seed) pair trains side by side in one compiled program (one compile
per candidate). The score is the test loss divided by the loss of predicting zero
(1 = learned nothing, 0 = perfect). ``search`` appends one JSON line per candidate
to ``results.jsonl`` and skips the candidates already there: it resumes.

>>> import random, tempfile
>>> from pathlib import Path
>>> from topos.nn.grammar import sample
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

from backends.jax.icl import Task, predictor, recall, regression, squared_error, train
from backends.jax.params import init
from topos.analysis import analyze
from topos.nn.grammar import architecture, sample, show

__all__ = ["SEQ", "TASKS", "WIDTH_IN", "candidate", "evaluate", "load", "search", "spec_of"]

#: Tokens per problem (10 context tokens and the query) and the token width.
SEQ, WIDTH_IN = 11, 11
#: The tasks, in the order of their ids.
TASKS = ("regression", "recall")


def _sample(key: jax.Array, batch: int, task: jax.Array) -> Task:
    a = regression(key, batch, n=SEQ - 1, d_x=WIDTH_IN - 1)
    b = recall(key, batch, pairs=SEQ - 1, keys=WIDTH_IN - 1, d_v=1)
    pick = task == 0
    return Task(jnp.where(pick, a.z, b.z), jnp.where(pick, a.y, b.y))


@functools.partial(jax.jit, static_argnames=("steps", "batch", "seeds"))
def _training_data(key: jax.Array, steps: int, batch: int, seeds: int) -> Task:
    """Batches of every run, ``(runs, steps, batch, ...)``: made once, shared by all candidates.

    The key is an argument, not a constant: XLA would fold the whole computation.
    """
    tasks = jnp.repeat(jnp.arange(len(TASKS)), seeds)
    keys = jax.random.split(key, len(TASKS) * seeds)

    def run(key: jax.Array, task: jax.Array) -> Task:
        return jax.vmap(lambda t: _sample(jax.random.fold_in(key, t), batch, task))(
            jnp.arange(steps)
        )

    return jax.vmap(run)(keys, tasks)


@functools.partial(jax.jit, static_argnames=("size", "seeds"))
def _test_data(key: jax.Array, size: int, seeds: int) -> Task:
    """The test problems of every run, ``(runs, size, ...)`` (one fixed set per task)."""
    tasks = jnp.repeat(jnp.arange(len(TASKS)), seeds)
    return jax.vmap(lambda task: _sample(key, size, task))(tasks)


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
    return sample(rng, first_order=index % 2 == 0)


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
        test_size: test problems per task (fixed keys, shared by all candidates).

    Returns:
        ``{task: [score per seed]}`` (test loss / loss of predicting 0).

    >>> r = evaluate(("arch", 4, ("mix",)), steps=10, seeds=2, batch=8, test_size=16)
    >>> sorted(r), len(r["recall"])
    (['recall', 'regression'], 2)
    """
    p = architecture(spec, seq=SEQ, d_in=WIDTH_IN, d_out=1)
    pred = predictor(p, 1)
    runs = len(TASKS) * seeds
    tasks = jnp.repeat(jnp.arange(len(TASKS)), seeds)
    params = jax.vmap(lambda k: init(p, k))(jax.random.split(jax.random.key(0), runs))
    keys = jax.random.split(jax.random.key(1), runs)
    chunk = min(steps, 100)
    steps = -(-steps // chunk) * chunk
    data = _training_data(jax.random.key(1), steps, batch, seeds)
    params, _ = train(pred, params, None, keys, steps=steps, batch=batch,
                      learning_rate=learning_rate, chunk=chunk, tasks=tasks, data=data)  # fmt: skip

    @jax.jit
    def scores(ps: Any, test: Task) -> Any:
        def one(p_: Any, t: Task) -> Any:
            loss = squared_error(jax.vmap(lambda z: pred(p_, z))(t.z), t.y)
            return loss / squared_error(jnp.zeros_like(t.y), t.y)

        return jax.vmap(one)(ps, test)

    values = [float(v) for v in scores(params, _test_data(jax.random.key(12345), test_size, seeds))]
    return {name: values[i * seeds : (i + 1) * seeds] for i, name in enumerate(TASKS)}


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
    one is appended as soon as it is trained. ``say`` shows progress (None: quiet).

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
    for i in todo:
        record = candidate(i, seed, **train_args)
        with (out / "results.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        done[i] = record
        fresh += 1
        if say is not None:
            mean = {k: sum(v) / len(v) for k, v in record["scores"].items()}
            eta = (time.perf_counter() - t0) / fresh * (len(todo) - fresh)
            say(f"[{len(done):3d}/{candidates}] {record['show'][:48]:48s}"
                f" {record['params']:6d} p  {record['lives_in']:16s}"
                f" reg {mean['regression']:.3f}  rec {mean['recall']:.3f}"
                f"  {record['seconds']:5.1f} s  eta {eta:4.0f} s")  # fmt: skip
    return [done[i] for i in range(candidates)]
