"""The demo application: a transformer built as a Para morphism, trained on Python source.

``topos demo`` (``backends/apps/cli.py``) runs ``run({flag: value, ...})``. The library
does the work; this module only wires it together and owns the output folder:

1. **corpus** (``backends.apps.corpus.load_corpus``): the ``.py`` files of the Python
   standard library on this machine or of ``--corpus``, split by file (every tenth
   file is validation), 3,000,000 and 300,000 characters;
2. **vocabulary** (``Vocab``): the characters seen in the training text, with the
   rare ones (fewer than one in 100,000) sharing id 0;
3. **model** (``build_model``, ``--arch``): ``gpt`` (the default) is
   ``topos.nn.language_model(vocab, seq, d, heads, layers)`` with its defaults, a
   GPT-style model (learned positions, LayerNorm, GELU MLP, biases); ``llama`` is
   ``topos.nn.zoo.llama`` (RoPE, RMSNorm, SwiGLU, grouped-query attention with
   ``heads // 2`` key/value heads, no biases). Either is a Para
   ``Fin(vocab, seq) -> R(seq, vocab)``; the architecture and its ``analyze()``
   report are printed and its string diagram written to ``<out>/transformer.svg``.
   With ``--dropout p`` training runs the keyed model (``dropout=p``: the input is
   ``Fin(vocab, seq) * SEED``, example ``i`` of step ``t`` gets the key
   ``(seed * 7919 + t * batch + i) mod 2**31``, so a resumed run sees the same
   masks); validation and sampling run the model without dropout, on the same
   parameters;
4. **training** with ``backends.jax.training.fit`` (adamw, warmup then cosine decay, gradient
   clipping), batches of random windows drawn as a function of the step index (so
   ``--resume`` continues exactly), a checkpoint in ``<out>/checkpoint``;
5. **report**: validation loss in bits per character against the unigram baseline
   (the entropy of the training character frequencies, measured on the validation
   text), and a sample with a fixed seed (``sample_text``, the one place that calls
   the sampler).

Everything lands in the output folder (``--out``, default ``runs/demo``):
``demo.json`` (the settings and the vocabulary), ``checkpoint`` (written by ``fit``
every ``checkpoint_every`` steps, at the end and on Ctrl-C), ``transformer.svg`` and
``report.json``. ``--resume`` reads the settings back, so only ``--steps`` may change
(training longer stretches the learning-rate schedule to the new total; fewer
steps than done is refused); a resumed run with the same ``--steps`` ends
bit-identical to an uninterrupted one.

A folder that already holds a run is never cleared by a new one by accident: a
new run there needs ``--resume`` (continue) or ``--overwrite`` (replace), and
with ``--overwrite`` the old checkpoint and settings stay until the new run's
first checkpoint replaces them, so a run that fails early loses nothing.

The pieces are usable on their own:

>>> v = Vocab.build("aab\\n\\u00e9", min_count=2)
>>> v.chars, v.decode(v.encode("ab\\u00e9"))
(('\\ufffd', 'a'), 'a\\ufffd\\ufffd')
>>> round(unigram_bits(v.encode("aaab"), v.encode("ab"), len(v)), 3)
1.085
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from backends.apps.corpus import CorpusError, load_corpus
from backends.jax.core.limits import device_memory, format_bytes
from backends.jax.training.fit import CheckpointError, load_checkpoint
from topos import nn
from topos.analysis import analyze
from topos.draw import draw
from topos.objects import Dim
from topos.para import Para

__all__ = [
    "ARCHS",
    "CorpusError",
    "DemoConfig",
    "DemoError",
    "DemoResult",
    "Interrupted",
    "Vocab",
    "build_model",
    "eval_windows",
    "evaluate_bits",
    "make_batches",
    "make_optimizer",
    "run",
    "sample_text",
    "step_bytes",
    "unigram_bits",
]

#: Characters rarer than this fraction of the training text share the id 0.
RARE = 1e-5
#: The character shown for id 0 (rare or unseen characters).
UNKNOWN = "\ufffd"
#: ``--arch``: the architectures the demo trains, and what each one is.
ARCHS = {
    "gpt": "GPT-style: learned positions, LayerNorm, GELU MLP, biases",
    "llama": "Llama-style: RoPE, RMSNorm, SwiGLU, grouped-query attention, no biases",
}


class DemoError(ValueError):
    """A bad setting or an unusable corpus or output folder; the message is one line."""


class Interrupted(Exception):
    """Training was stopped by Ctrl-C; the message says where the checkpoint is."""


# ---------------------------------------------------------------------------------
# Vocabulary and statistics


@dataclasses.dataclass(frozen=True)
class Vocab:
    """Characters to ids: id 0 is ``UNKNOWN`` (rare or unseen), then the kept characters.

    >>> v = Vocab(("\\ufffd", "a", "b"))
    >>> v.encode("abc").tolist(), v.decode([2, 1, 0]), len(v)
    ([1, 2, 0], 'ba\\ufffd', 3)
    """

    chars: tuple[str, ...]

    @classmethod
    def build(cls, text: str, min_count: int | None = None) -> Vocab:
        """The characters of ``text`` seen at least ``min_count`` times (default: the
        ``RARE`` fraction of the text, at least once), in code-point order."""
        if min_count is None:
            min_count = max(1, math.ceil(RARE * len(text)))
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        uniq, counts = np.unique(points, return_counts=True)
        kept = [chr(int(c)) for c, n in zip(uniq, counts, strict=True) if n >= min_count]
        return cls((UNKNOWN, *(c for c in kept if c != UNKNOWN)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text`` (int32), rare characters as 0."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = np.array([ord(c) for c in self.chars[1:]], dtype=np.uint32)
        pos = np.searchsorted(table, points)
        hit = table[np.minimum(pos, len(table) - 1)] == points if len(table) else points < 0
        return np.where(hit, pos + 1, 0).astype(np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``."""
        return "".join(self.chars[int(i)] for i in ids)


def unigram_bits(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int) -> float:
    """Bits per character of the validation ids under the training unigram frequencies.

    Counts are add-one smoothed, so an id unseen in training costs finite bits.

    >>> round(unigram_bits(np.array([0, 1]), np.array([0, 1, 1, 0]), 2), 6)
    1.0
    """
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log2(counts / counts.sum())
    return float(-logp[val_ids].mean())


# ---------------------------------------------------------------------------------
# Batches, evaluation, sampling


def make_batches(
    ids: np.ndarray, seq: int, batch: int, seed: int
) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
    """``batches(step) -> (tokens, targets)``: ``batch`` random windows of ``seq`` ids.

    The windows depend only on ``(seed, step)``, so a resumed run sees the same
    batches as an uninterrupted one. ``targets`` are ``tokens`` shifted by one.

    >>> b = make_batches(np.arange(100, dtype=np.int32), seq=4, batch=2, seed=0)
    >>> x, y = b(7)
    >>> x.shape, bool((y == x + 1).all()), bool((b(7)[0] == x).all())
    ((2, 4), True, True)
    """
    if len(ids) < seq + 2:
        raise DemoError(f"the training text has {len(ids)} characters; --seq {seq} needs more")
    offsets = np.arange(seq + 1)

    def batches(step: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng((seed, step))
        starts = rng.integers(0, len(ids) - seq - 1, size=batch)
        windows = ids[starts[:, None] + offsets]
        return windows[:, :-1], windows[:, 1:]

    return batches


def eval_windows(ids: np.ndarray, seq: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``limit`` non-overlapping validation windows ``(tokens, targets)``, in order.

    >>> x, y = eval_windows(np.arange(11, dtype=np.int32), seq=3, limit=8)
    >>> x.tolist(), y[:, -1].tolist()
    ([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [3, 6, 9])
    """
    n = min(limit, (len(ids) - 1) // seq)
    if n < 1:
        raise DemoError(f"the validation text has {len(ids)} characters; --seq {seq} needs more")
    starts = np.arange(n) * seq
    windows = ids[starts[:, None] + np.arange(seq + 1)]
    return windows[:, :-1], windows[:, 1:]


def evaluate_bits(
    logits_fn: Callable[[Any, Any], Any],
    params: Any,
    windows: tuple[np.ndarray, np.ndarray],
    batch: int,
) -> float:
    """Mean next-character loss, in bits, of ``logits_fn(params, tokens)`` over ``windows``.

    ``logits_fn`` maps ``(params, (b, seq) int32)`` to ``(b, seq, vocab)`` logits; the
    windows are evaluated ``batch`` at a time by one jitted function (the last
    chunk is padded and the padding ignored).
    """
    import jax
    import jax.numpy as jnp

    @jax.jit
    def nats(params: Any, x: Any, y: Any) -> Any:
        logp = jax.nn.log_softmax(logits_fn(params, x), axis=-1)
        return -jnp.take_along_axis(logp, y[..., None], axis=-1)[..., 0].sum(-1)

    xs, ys = windows
    total, n = 0.0, len(xs)
    for start in range(0, n, batch):
        x, y = xs[start : start + batch], ys[start : start + batch]
        pad = batch - len(x)
        if pad:
            x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
            y = np.concatenate([y, np.repeat(y[-1:], pad, axis=0)])
        total += float(np.asarray(nats(params, x, y))[: batch - pad].sum())
    return float(total / (n * xs.shape[1]) / math.log(2))


# ---------------------------------------------------------------------------------
# The run


# Settings that fix the model and its data: a resumed run cannot change them.
_FIXED = (
    "d_model",
    "layers",
    "heads",
    "seq",
    "batch",
    "lr",
    "seed",
    "corpus",
    "train_chars",
    "val_chars",
    "arch",
    "dropout",
)


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """Every setting of the demo; the command line sets the first fifteen.

    >>> DemoConfig(d_model=30, heads=4).check()
    Traceback (most recent call last):
    ...
    backends.apps.demo.DemoError: --d-model 30 is not divisible by --heads 4
    """

    steps: int = 600
    d_model: int = 128
    layers: int = 2
    heads: int = 4
    seq: int = 128
    batch: int = 32
    lr: float = 3e-3
    seed: int = 0
    out: str = "runs/demo"
    resume: bool = False
    overwrite: bool = False
    corpus: str | None = None
    mesh: str | None = None
    arch: str = "gpt"
    dropout: float = 0.0
    train_chars: int = 3_000_000
    val_chars: int = 300_000
    eval_windows: int = 512
    sample_chars: int = 400
    temperature: float = 0.8
    prompt: str = "def "
    log_every: int = 50
    checkpoint_every: int = 100

    def check(self) -> DemoConfig:
        """Raise ``DemoError`` naming the flag when a setting is out of range."""
        for name in ("steps", "d_model", "layers", "heads", "batch"):
            if getattr(self, name) < 1:
                raise DemoError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if self.seq < 2:
            raise DemoError(f"--seq must be >= 2, got {self.seq}")
        if not self.lr > 0:
            raise DemoError(f"--lr must be positive, got {self.lr}")
        if self.d_model % self.heads:
            raise DemoError(f"--d-model {self.d_model} is not divisible by --heads {self.heads}")
        if self.arch not in ARCHS:
            raise DemoError(f"--arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if self.arch == "llama" and (self.d_model // self.heads) % 2:
            raise DemoError(
                f"--arch llama rotates pairs of entries: the head width --d-model / --heads"
                f" = {self.d_model // self.heads} must be even"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise DemoError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.dropout and self.mesh is not None:
            raise DemoError("--dropout is not supported with --mesh yet")
        if self.mesh is not None:
            dims = self.mesh.split("x")
            if len(dims) != 2 or not all(d.isdigit() and int(d) >= 1 for d in dims):
                raise DemoError(f"--mesh must be DATAxMODEL, e.g. 4x2, got {self.mesh!r}")
            if self.batch % int(dims[0]):
                raise DemoError(
                    f"--batch {self.batch} is not divisible by the data axis of --mesh {self.mesh}"
                )
        if self.mesh is not None and self.resume:
            raise DemoError(
                "--resume continues single-device runs; a sharded run (--mesh) checkpoints"
                " with Orbax, which fit(resume=True, mesh=...) resumes"
            )
        if self.resume and self.overwrite:
            raise DemoError(
                "--resume continues the run in --out, --overwrite replaces it: pick one"
            )
        return self


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """What a run measured: validation and unigram bits per character, and the rest."""

    val_bits: float
    unigram_bits: float
    step: int
    seconds: float
    sample: str
    params: int
    vocab: int
    out: str

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON-able dict."""
        return dataclasses.asdict(self)


def _settings(given: DemoConfig | dict[str, Any]) -> DemoConfig:
    """The run's config: defaults, then the saved run (when resuming), then ``given``.

    Also checks the output folder: a new run may not clear another run's folder
    without ``overwrite``, and a resumed run needs a readable checkpoint no further
    than ``steps``.
    """
    if isinstance(given, DemoConfig):
        cfg = given.check()
    else:
        unknown = set(given) - {f.name for f in dataclasses.fields(DemoConfig)}
        if unknown:
            raise DemoError(f"unknown setting(s) {sorted(unknown)}")
        cfg = DemoConfig(**given).check()
        if cfg.resume:
            cfg = _resumed(given, _load_state(Path(cfg.out))["config"])
    out = Path(cfg.out)
    if _checkpoint(out).is_dir() and cfg.mesh is None:
        raise DemoError(
            f"the checkpoint path {_checkpoint(out)} is a folder; move it or pick another --out"
        )
    if not cfg.resume:
        _check_unused(out, cfg.overwrite)
        return cfg
    done = _done_steps(out)
    if cfg.steps < done:
        raise DemoError(
            f"--steps {cfg.steps} is fewer than the {done} steps already done in {cfg.out!r};"
            f" pass --steps {done} or more to continue it"
        )
    return cfg


def _resumed(given: dict[str, Any], saved: dict[str, Any]) -> DemoConfig:
    for name in _FIXED:
        if name in given and given[name] != saved.get(name):
            raise DemoError(
                f"--{name.replace('_', '-')} {given[name]} differs from the run being resumed"
                f" ({saved.get(name)}); leave it out, or start a new run with another --out"
            )
    known = {f.name for f in dataclasses.fields(DemoConfig)} - {"resume", "overwrite"}
    # The saved run's settings, then the ones given now (e.g. more --steps).
    merged = {k: v for k, v in saved.items() if k in known} | dict(given)
    return DemoConfig(**merged).check()


def _state_file(out: Path) -> Path:
    return out / "demo.json"


def _checkpoint(out: Path) -> Path:
    return out / "checkpoint"


def _staging(out: Path) -> Path:
    """Where an ``--overwrite`` run writes until its first checkpoint exists."""
    return out / ".new"


def _check_unused(out: Path, overwrite: bool) -> None:
    """A new run may not clear a folder holding another run unless told to."""
    held = [p.name for p in (_checkpoint(out), _state_file(out)) if p.exists()]
    if held and not overwrite:
        raise DemoError(
            f"--out {str(out)!r} already holds a run ({' and '.join(held)}); continue it with"
            " --resume, or replace it with --overwrite"
        )


def _done_steps(out: Path) -> int:
    """The step of the checkpoint being resumed (read and checked in full)."""
    checkpoint = _checkpoint(out)
    if not checkpoint.exists():
        raise DemoError(
            f"nothing to resume in {str(out)!r}: the run stopped before its first checkpoint;"
            " run 'topos demo' without --resume"
        )
    try:
        step: int = load_checkpoint(checkpoint)["step"]
    except CheckpointError as err:
        raise DemoError(str(err)) from None
    return step


def _load_state(out: Path) -> dict[str, Any]:
    path = _state_file(out)
    if not path.exists():
        raise DemoError(
            f"nothing to resume in {str(out)!r} (no {path.name}); run 'topos demo' without"
            " --resume first, or point --out at an earlier run"
        )
    try:
        state: dict[str, Any] = json.loads(path.read_text())
        if not isinstance(state["config"], dict) or not isinstance(state["vocab"], str):
            raise ValueError("'config' must be an object and 'vocab' a string")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DemoError(f"cannot read the saved run {str(path)!r}: {err!s}") from None
    return state


def _save_state(folder: Path, cfg: DemoConfig, vocab: Vocab) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        config = dataclasses.asdict(cfg) | {"resume": False, "overwrite": False}
        text = json.dumps({"config": config, "vocab": "".join(vocab.chars)})
        tmp = _state_file(folder).with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(_state_file(folder))
    except OSError as err:
        raise DemoError(f"cannot write to the output folder {str(folder)!r}: {err}") from None


def _promote(out: Path) -> None:
    """Move an ``--overwrite`` run's checkpoint and settings over the old run's."""
    staging = _staging(out)
    if _checkpoint(staging).exists():
        os.replace(_checkpoint(staging), _checkpoint(out))
        os.replace(_state_file(staging), _state_file(out))
    else:  # nothing replaces the old run: keep it, drop the new run's settings
        _state_file(staging).unlink(missing_ok=True)
    try:
        staging.rmdir()
    except OSError:  # something else is in it (a temporary file): leave it
        pass


def make_optimizer(cfg: DemoConfig) -> Any:
    """The demo's optimizer: clipping, then adamw with linear warmup and cosine decay."""
    import optax

    warmup = min(100, max(1, cfg.steps // 10))
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, cfg.lr, warmup, max(cfg.steps, warmup + 1), end_value=cfg.lr / 10
    )
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=0.01))


def step_bytes(cfg: DemoConfig, vocab: int) -> int:
    """A lower estimate of the memory one training step needs, in bytes.

    The float32 activations kept for the backward pass: per block the attention
    scores (``batch * heads * seq**2``) and about ``12 * d_model`` values per
    position; then the logits (``batch * seq * vocab``), each counted three times
    (forward, gradient, optimiser temporaries).

    >>> step_bytes(DemoConfig(), vocab=100) // 2**20
    196
    """
    per_block = cfg.heads * cfg.seq * cfg.seq + 12 * cfg.seq * cfg.d_model
    values = cfg.batch * (cfg.layers * per_block + cfg.seq * vocab)
    return 3 * 4 * values


def param_count(cfg: DemoConfig, vocab: int) -> int:
    """A lower estimate of the number of parameters: ``12 d²`` per block, the
    embedding and the head (the memory check counts each four times: the value, its
    gradient and Adam's two moments).

    >>> param_count(DemoConfig(d_model=128, layers=2, seq=128), vocab=100) // 1000
    435
    """
    d = cfg.d_model
    return cfg.layers * 12 * d * d + 2 * vocab * d + cfg.seq * d


def _check_memory(cfg: DemoConfig, vocab: int) -> None:
    # the step's activations, and the parameters with their gradients and Adam's moments
    need, limit = step_bytes(cfg, vocab) + 16 * param_count(cfg, vocab), device_memory()
    if limit is not None and need > limit:
        raise DemoError(
            f"--batch {cfg.batch} x --seq {cfg.seq} (--d-model {cfg.d_model}, --layers"
            f" {cfg.layers}) needs about {format_bytes(need)} per training step; this machine has"
            f" {format_bytes(limit)}: lower --batch, --seq, --d-model or --layers"
        )


def build_model(
    cfg: DemoConfig, vocab: int, *, train: bool = False, variable: bool = False
) -> Any:
    """The Para of ``cfg.arch`` at the demo's size: ``Fin(vocab, seq) -> R(seq, vocab)``.

    With ``train`` and ``cfg.dropout > 0``, the keyed training model
    ``Fin(vocab, seq) * SEED -> R(seq, vocab)``; otherwise the model without
    dropout (the same parameters either way). With ``variable`` the length is the
    dimension variable ``Dim("seq", cfg.seq)`` (the model ``generate`` decodes;
    the same parameters again).

    >>> gpt = build_model(DemoConfig(d_model=16, heads=2, seq=8), vocab=20)
    >>> gpt.dom, list(gpt.parameters())[:2]
    (Fin(20, 8), ['embed.table', 'pos.table'])
    >>> llama = build_model(DemoConfig(arch="llama", d_model=16, heads=2, seq=8), vocab=20)
    >>> llama.parameters()["blocks.attn.k.w"].ob   # 2 layers, 1 key/value head of width 8
    R(2, 16, 8)
    >>> build_model(DemoConfig(dropout=0.1, d_model=16, heads=2, seq=8), 20, train=True).dom
    Fin(20, 8) * Fin(2147483648)
    >>> var = build_model(DemoConfig(d_model=16, heads=2, seq=8), 20, variable=True)
    >>> var.dom, var.parameters() == gpt.parameters()
    (Fin(20, Dim('seq', 8)), True)
    """
    dropout = cfg.dropout if cfg.dropout > 0 else None
    seq: Any = Dim("seq", cfg.seq) if variable else cfg.seq
    if cfg.arch == "llama":
        kv = cfg.heads // 2 if cfg.heads % 2 == 0 else cfg.heads
        hidden = 32 * math.ceil(8 * cfg.d_model / 3 / 32)  # Llama's 8/3 d, rounded up
        return nn.language_model(
            vocab, seq, cfg.d_model, cfg.heads, cfg.layers, kv_heads=kv, mlp_hidden=hidden,
            positional="rope", norm="rms", activation="swiglu", bias=False,
            dropout=dropout, train=train,
        )  # fmt: skip
    return nn.language_model(
        vocab, seq, cfg.d_model, cfg.heads, cfg.layers, dropout=dropout, train=train
    )


def sample_text(params: Any, vocab: Vocab, cfg: DemoConfig) -> str:
    """The prompt and ``cfg.sample_chars`` characters drawn by ``generate`` (its cache).

    ``generate`` decodes within the model's window of ``cfg.seq`` positions; a
    longer sample continues from the last ``cfg.seq // 2`` characters in a new
    window (as the windowed sampler did, a chunk at a time).
    """
    import jax

    from backends.jax import generate

    model = build_model(cfg, len(vocab), variable=True)
    out: list[int] = []
    context = [int(i) for i in vocab.encode(cfg.prompt)][-(cfg.seq - 1) :]
    key = jax.random.key(cfg.seed)
    while len(out) < cfg.sample_chars:
        steps = min(cfg.sample_chars - len(out), cfg.seq - len(context))
        key, sub = jax.random.split(key)
        new = generate(model, params, context, steps, sub, temperature=cfg.temperature)
        out += [int(i) for i in new]
        context = (context + out[-steps:])[-(cfg.seq // 2) :]
    return cfg.prompt + vocab.decode(out)


def keyed_batches(
    batches: Callable[[int], tuple[np.ndarray, np.ndarray]], cfg: DemoConfig
) -> Callable[[int], tuple[tuple[np.ndarray, np.ndarray], np.ndarray]]:
    """``batches`` with each example's dropout key: ``((tokens, keys), targets)``.

    >>> b = keyed_batches(lambda step: (np.zeros((2, 3)), np.ones((2, 3))), DemoConfig(batch=2))
    >>> b(5)[0][1].tolist()
    [10, 11]
    """

    def keyed(step: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        tokens, targets = batches(step)
        first = cfg.seed * 7919 + step * cfg.batch
        keys = (first + np.arange(len(tokens), dtype=np.int64)) % 2**31
        return (tokens, keys.astype(np.int32)), targets

    return keyed


def _report_analysis(p: Para, say: Callable[[str], None]) -> None:
    report = analyze(p)
    say("analysis:")
    say(f"  order     {report.order}")
    say(f"  class     {report.cls}" + (f" (degree {report.degree})" if report.degree else ""))
    say(f"  lives in  {report.lives_in}")
    for w in report.witnesses:  # named layers, as topos.analysis reports them
        say(f"  witness   {w.kind}: {w.reason}, in {w.where or 'the top level'}")


#: The file name of the model's string diagram in the output folder.
DIAGRAM = "transformer.svg"


def _write_diagram(p: Para, out: Path, say: Callable[[str], None]) -> None:
    path = out / DIAGRAM
    path.write_text(draw(p, depth=2))
    say(f"diagram: {path}")


def run(given: DemoConfig | dict[str, Any], stdout: TextIO | None = None) -> DemoResult:
    """Run the demo; ``given`` is a ``DemoConfig`` or a dict of the settings to change.

    Prints to ``stdout`` (default ``sys.stdout``); training progress goes to stderr
    (``backends.jax.training.fit``). Raises ``DemoError`` for bad settings, an unusable
    output folder or checkpoint, or a diverging run, ``CorpusError`` for an
    unusable corpus, and ``Interrupted`` after Ctrl-C (the checkpoint is saved).
    """
    stream = sys.stdout if stdout is None else stdout

    def say(text: str) -> None:
        print(text, file=stream, flush=True)

    started = time.perf_counter()
    cfg = _settings(given)
    _check_memory(cfg, vocab=1)  # before reading anything; again once the vocabulary is known
    _check_mesh(cfg)
    out = Path(cfg.out)
    root = None if cfg.corpus is None else Path(cfg.corpus)
    corpus = load_corpus(root, cfg.train_chars, cfg.val_chars)
    say(corpus.describe())
    vocab = Vocab(tuple(_load_state(out)["vocab"])) if cfg.resume else Vocab.build(corpus.train)
    _check_memory(cfg, vocab=len(vocab))
    train_ids, val_ids = vocab.encode(corpus.train), vocab.encode(corpus.val)
    unigram = unigram_bits(train_ids, val_ids, len(vocab))
    say(f"vocabulary: {len(vocab)} characters (id 0 stands for the rare ones)")
    say(f"unigram baseline: {unigram:.3f} bits/char on validation")
    batches = make_batches(train_ids, cfg.seq, cfg.batch, cfg.seed)
    windows = eval_windows(val_ids, cfg.seq, cfg.eval_windows)
    replacing = cfg.overwrite and any(p.exists() for p in (_checkpoint(out), _state_file(out)))
    # A replacing run writes aside until its first checkpoint: a failure loses nothing.
    folder = _staging(out) if replacing else out
    made = _new_files(out, cfg)
    _save_state(folder, cfg, vocab)
    if replacing:
        say(f"new run in {out}: the previous run there is replaced once this one has a checkpoint")
    try:
        return _train(cfg, vocab, batches, windows, unigram, out, folder, started, say)
    except BaseException:
        if not cfg.resume and not replacing and not _checkpoint(out).exists():
            _remove(made)  # a failed start leaves nothing behind
        raise
    finally:
        if replacing:
            _promote(out)


#: The most devices the demo simulates on a CPU-only machine (``--mesh``).
MAX_SIMULATED_DEVICES = 64


def _check_mesh(cfg: DemoConfig) -> None:
    """A ``--mesh`` the devices can hold, checked before anything is written."""
    if cfg.mesh is None:
        return
    import jax

    from backends.jax import sharding

    data, model = (int(d) for d in cfg.mesh.split("x"))
    if jax.default_backend() == "cpu" and data * model > MAX_SIMULATED_DEVICES:
        raise DemoError(
            f"--mesh {cfg.mesh} needs {data * model} devices; on CPU the demo simulates at"
            f" most {MAX_SIMULATED_DEVICES}"
        )
    try:
        sharding.make_mesh(cfg.mesh)
    except ValueError as err:
        raise DemoError(f"--mesh {cfg.mesh}: {err}") from None


def _new_files(out: Path, cfg: DemoConfig) -> list[Path]:
    """What a new run writes into ``out`` before its first checkpoint and did not find
    there (the folders it makes included, innermost first)."""
    if cfg.resume:
        return []
    made = [p for p in (_state_file(out), out / DIAGRAM) if not p.exists()]
    folder = out
    while not folder.exists():
        made.append(folder)
        folder = folder.parent
    return made


def _remove(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.rmdir() if path.is_dir() else path.unlink(missing_ok=True)
        except OSError:  # a folder something else has written into: keep it
            pass


def _train(
    cfg: DemoConfig,
    vocab: Vocab,
    batches: Callable[[int], tuple[np.ndarray, np.ndarray]],
    windows: tuple[np.ndarray, np.ndarray],
    unigram: float,
    out: Path,
    folder: Path,
    started: float,
    say: Callable[[str], None],
) -> DemoResult:
    import jax
    import optax

    from backends.jax import batched, fit, init, sharding
    from backends.jax.training.lenses import Objective, cross_entropy

    p = build_model(cfg, len(vocab))
    say(
        f"arch: {cfg.arch} ({ARCHS[cfg.arch]})"
        + (f", dropout {cfg.dropout}" if cfg.dropout else "")
    )
    say(f"model: {p.dom!r} -> {p.cod!r}, {len(p.parameters())} parameter arrays")
    _report_analysis(p, say)
    _write_diagram(p, out, say)
    mesh = None if cfg.mesh is None else sharding.make_mesh(cfg.mesh)
    try:
        params = init(p, jax.random.key(cfg.seed), mesh=mesh)
    except MemoryError as err:
        raise DemoError(f"{err}; lower --d-model or --layers") from None
    n_params = sum(int(v.size) for v in params.values())
    say(f"parameters: {n_params:,}")
    if mesh is not None:
        placed = sharding.param_shardings(p, mesh)
        mine = sharding.param_bytes(params, placed)
        say(
            f"mesh {cfg.mesh} ({dict(mesh.shape)}): {mine:,} parameter bytes per device"
            f" of {sharding.param_bytes(params):,}"
        )
    logits = batched(p, mesh)
    # with dropout, training runs the keyed model (its input: tokens and a key each)
    train_logits = batched(build_model(cfg, len(vocab), train=True)) if cfg.dropout else logits
    if cfg.dropout:
        batches = keyed_batches(batches, cfg)  # type: ignore[assignment]

    def loss(params: Any, batch: tuple[Any, Any]) -> Any:
        inputs, targets = batch
        return optax.softmax_cross_entropy_with_integer_labels(
            train_logits(params, inputs), targets
        ).mean()

    objective: Any = loss
    if not cfg.dropout and mesh is None:  # the gradient: the diagram's own reverse derivative
        objective = Objective(p, cross_entropy(p.cod, p.dom))  # (faster per step than jax.grad)

    checkpoint, written = _checkpoint(out), _checkpoint(folder)
    say(
        f"training: {cfg.steps} steps of {cfg.batch} x {cfg.seq} characters"
        + (f", resuming from {checkpoint}" if cfg.resume else "")
    )
    try:
        result = fit(
            objective,
            params,
            batches,
            optimizer=make_optimizer(cfg),
            steps=cfg.steps,
            checkpoint=str(written),
            checkpoint_every=cfg.checkpoint_every,
            resume=cfg.resume,
            log_every=cfg.log_every,
            mesh=mesh,
            unstack=p if mesh is None else None,  # unrolled layers apart: a faster first step
        )
    except KeyboardInterrupt:
        if not written.exists():
            raise Interrupted("No checkpoint was written yet; nothing to resume.") from None
        raise Interrupted(
            f"The checkpoint is in {checkpoint}; continue with: topos demo --resume --out {out}"
        ) from None
    except FloatingPointError as err:
        raise DemoError(
            f"--lr {cfg.lr:g}: training diverged"
            f" ({str(err).removeprefix('fit: ').split('; the state')[0]});"
            " try a smaller --lr"
        ) from None
    except CheckpointError as err:
        raise DemoError(str(err).split("; the state reached")[0]) from None
    params = result.params
    bits = evaluate_bits(logits, params, windows, cfg.batch)
    say(f"validation: {bits:.3f} bits/char (unigram baseline {unigram:.3f})")
    text = sample_text(params, vocab, cfg)
    say(f"sample (temperature {cfg.temperature}, seed {cfg.seed}):")
    say("-" * 72)
    say(text)
    say("-" * 72)
    elapsed = time.perf_counter() - started
    res = DemoResult(bits, unigram, int(result.step), elapsed, text, n_params, len(vocab), str(out))
    (out / "report.json").write_text(json.dumps(res.to_json(), indent=2))
    if mesh is None:
        say(f"checkpoint: {checkpoint} (continue with: topos demo --resume --out {out})")
    else:
        say(f"checkpoint: {checkpoint} (sharded, Orbax: resume it with fit(resume=True, mesh=...))")
    say(f"done in {elapsed:.0f}s")
    return res
