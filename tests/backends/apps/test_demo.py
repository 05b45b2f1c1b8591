"""The demo application's pieces (vocabulary, statistics, batches) and tiny runs."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.apps import demo
from backends.apps.demo import (
    UNKNOWN,
    DemoConfig,
    DemoError,
    Interrupted,
    Vocab,
    eval_windows,
    evaluate_bits,
    make_batches,
    unigram_bits,
)
from backends.jax.core.limits import device_memory
from backends.jax.training.fit import load_checkpoint


def _write_corpus(root: Path, files: int = 12) -> Path:
    """A small deterministic corpus of Python-like files."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        body = "".join(
            f"def f{i}_{j}(x, y={j}):\n    return x * {i} + y  # step {j}\n\n" for j in range(20)
        )
        (root / f"mod{i:02d}.py").write_text(body)
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_skipped.py").write_text("SKIPPED_MARKER = 1\n")
    (root / "README.txt").write_text("not python\n")
    return root


# -- vocabulary and statistics ---------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)


@given(texts, texts)
def test_vocab_round_trips_kept_chars_and_maps_the_rest_to_zero(train: str, other: str) -> None:
    v = Vocab.build(train, min_count=1)
    assert v.chars[0] == UNKNOWN
    assert list(v.chars[1:]) == sorted(set(train) - {UNKNOWN})
    assert v.decode(v.encode(train)) == train
    ids = v.encode(other)
    assert ids.dtype == np.int32 and len(ids) == len(other)
    for c, i in zip(other, ids.tolist(), strict=True):
        assert (i == 0) == (c not in train or c == UNKNOWN)
        assert v.chars[i] == (c if i else UNKNOWN)


def test_rare_chars_share_id_zero() -> None:
    v = Vocab.build("a" * 10 + "b" * 3 + "c", min_count=3)
    assert v.chars == (UNKNOWN, "a", "b")
    assert v.encode("abc").tolist() == [1, 2, 0]


@given(st.lists(st.integers(0, 4), min_size=1, max_size=50))
def test_unigram_bits_is_the_smoothed_cross_entropy(ids: list[int]) -> None:
    train = np.array(ids)
    val = np.array(ids[::-1])
    counts = np.bincount(train, minlength=5) + 1.0
    expected = -np.mean([math.log2(counts[i] / counts.sum()) for i in val])
    assert unigram_bits(train, val, 5) == pytest.approx(expected)
    assert unigram_bits(train, val, 5) >= 0


def test_unigram_bits_is_near_the_entropy_on_large_samples() -> None:
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.25, 0.125, 0.125])
    train, val = rng.choice(4, 200_000, p=p), rng.choice(4, 200_000, p=p)
    assert unigram_bits(train, val, 4) == pytest.approx(1.75, abs=0.01)


# -- batches and evaluation -----------------------------------------------------------


@given(st.integers(0, 1000), st.integers(2, 9), st.integers(1, 5))
def test_batches_are_shifted_windows_fixed_by_the_step(step: int, seq: int, batch: int) -> None:
    ids = np.arange(50, dtype=np.int32)
    batches = make_batches(ids, seq, batch, seed=3)
    x, y = batches(step)
    assert x.shape == y.shape == (batch, seq)
    assert (y == x + 1).all() and (np.diff(x, axis=1) == 1).all()
    assert (x >= 0).all() and (y < 50).all()
    assert (batches(step)[0] == x).all()
    assert (make_batches(ids, seq, batch, seed=3)(step)[0] == x).all()


def test_batches_need_enough_text() -> None:
    with pytest.raises(DemoError, match="--seq 8"):
        make_batches(np.arange(5, dtype=np.int32), 8, 2, 0)


def test_eval_windows_tile_the_validation_text() -> None:
    x, y = eval_windows(np.arange(20, dtype=np.int32), seq=4, limit=100)
    assert x.shape == (4, 4)
    assert x.ravel().tolist() == list(range(16)) and y.ravel().tolist() == list(range(1, 17))
    assert eval_windows(np.arange(20, dtype=np.int32), seq=4, limit=2)[0].shape == (2, 4)


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_evaluate_bits_uniform_logits_cost_log2_vocab(batch: int) -> None:
    windows = eval_windows(np.arange(40, dtype=np.int32) % 7, seq=4, limit=100)
    bits = evaluate_bits(lambda p, x: jnp.zeros((*x.shape, 8)) + p, 0.0, windows, batch)
    assert bits == pytest.approx(3.0, abs=1e-6)


def test_evaluate_bits_of_a_perfect_predictor_is_near_zero() -> None:
    windows = eval_windows(np.arange(40, dtype=np.int32) % 7, seq=4, limit=100)

    def logits(p: float, x: jax.Array) -> jax.Array:
        return 50.0 * jax.nn.one_hot((x + 1) % 7, 7)

    assert evaluate_bits(logits, 0.0, windows, 3) < 1e-6


# -- the demo, tiny ----------------------------------------------------------------------


def _tiny(tmp_path: Path, **changes: object) -> DemoConfig:
    settings: dict[str, object] = dict(
        steps=6,
        d_model=16,
        layers=1,
        heads=2,
        seq=16,
        batch=4,
        lr=1e-2,
        out=str(tmp_path / "run"),
        corpus=str(tmp_path / "corpus"),
        eval_windows=6,
        sample_chars=24,
        log_every=3,
        checkpoint_every=3,
        prompt="def ",
    )
    settings.update(changes)
    return DemoConfig(**settings)  # type: ignore[arg-type]


def test_tiny_demo_trains_samples_checkpoints_survives_ctrl_c_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_corpus(tmp_path / "corpus")
    whole = tmp_path / "whole"
    out = io.StringIO()
    first = demo.run(_tiny(tmp_path, out=str(whole)), stdout=out)
    text = out.getvalue()
    assert first.step == 6
    assert math.isfinite(first.val_bits) and math.isfinite(first.unigram_bits)
    assert first.sample.startswith("def ") and len(first.sample) == 4 + 24
    assert "unigram baseline" in text and "bits/char" in text and "sample" in text
    assert "analysis:" in text and "topos completion" in text
    # witnesses by the names of their layers, not by child indices (issue 10)
    assert "ev applies a function that depends on the input, in body > block > attn" in text
    assert "0/1/" not in text
    assert (whole / "checkpoint").exists() and load_checkpoint(whole / "checkpoint")["step"] == 6
    report = json.loads((whole / "report.json").read_text())
    assert report["step"] == 6 and report["val_bits"] == pytest.approx(first.val_bits)
    assert "step 6/6" in capsys.readouterr().err  # fit's progress

    # Ctrl-C at step 4: a checkpoint is left, and the message says how to resume.
    real = demo.make_batches

    def interrupting(*args: Any, **kw: Any) -> Any:
        batches = real(*args, **kw)

        def at(step: int) -> Any:
            if step == 4:
                raise KeyboardInterrupt
            return batches(step)

        return at

    monkeypatch.setattr(demo, "make_batches", interrupting)
    cut = tmp_path / "cut"
    with pytest.raises(Interrupted, match="--resume --out") as stop:
        demo.run(_tiny(tmp_path, out=str(cut)), stdout=io.StringIO())
    assert str(cut / "checkpoint") in str(stop.value)
    assert load_checkpoint(cut / "checkpoint")["step"] == 4
    monkeypatch.setattr(demo, "make_batches", real)

    # Resuming needs only --resume and --out: the rest comes from the saved run, and the
    # result is bit-identical to the uninterrupted run.
    resumed = demo.run({"resume": True, "out": str(cut)}, stdout=io.StringIO())
    assert "resumed from" in capsys.readouterr().err
    assert resumed.step == 6
    a, b = load_checkpoint(whole / "checkpoint"), load_checkpoint(cut / "checkpoint")
    assert a["paths"] == b["paths"]
    for x, y in zip(a["train"], b["train"], strict=True):
        assert np.array_equal(x, y)
    assert resumed.val_bits == first.val_bits and resumed.sample == first.sample

    # More steps on a finished run.
    longer = demo.run({"resume": True, "out": str(whole), "steps": 8}, stdout=io.StringIO())
    assert longer.step == 8 and (longer.vocab, longer.params) == (first.vocab, first.params)

    # A new run that diverges, told to overwrite, leaves the old run as it was (issue 11.5).
    saved = {name: (whole / name).read_bytes() for name in ("checkpoint", "demo.json")}
    with pytest.raises(DemoError, match=r"--lr 1e\+30: training diverged .*smaller --lr") as info:
        demo.run(_tiny(tmp_path, out=str(whole), lr=1e30, overwrite=True), stdout=io.StringIO())
    assert ".result" not in str(info.value)  # a user of the demo has no error object to read
    assert {name: (whole / name).read_bytes() for name in saved} == saved
    assert not (whole / ".new").exists()
    assert load_checkpoint(whole / "checkpoint")["step"] == 8

    # Overwriting for real: the new run's checkpoint and settings replace the old ones.
    new = demo.run(_tiny(tmp_path, out=str(cut), seed=1, overwrite=True), stdout=io.StringIO())
    assert new.step == 6 and not (cut / ".new").exists()
    assert json.loads((cut / "demo.json").read_text())["config"]["seed"] == 1
    assert load_checkpoint(cut / "checkpoint")["step"] == 6


def test_a_new_run_never_clears_a_used_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint").write_bytes(b"an earlier run")
    with pytest.raises(DemoError, match="already holds a run .*--resume.*--overwrite"):
        demo.run(_tiny(tmp_path), stdout=io.StringIO())
    assert (run / "checkpoint").read_bytes() == b"an earlier run"


def test_step_bytes_grows_with_the_batch() -> None:
    small, large = DemoConfig(batch=1), DemoConfig(batch=10**12)
    assert demo.step_bytes(large, 100) == 10**12 * demo.step_bytes(small, 100)
    limit = device_memory()
    assert limit is None or demo.step_bytes(large, 100) > limit


def test_tiny_llama_with_dropout_trains_and_samples(tmp_path: Path) -> None:
    _write_corpus(tmp_path / "corpus")
    out = io.StringIO()
    res = demo.run(_tiny(tmp_path, arch="llama", dropout=0.1, steps=4), stdout=out)
    text = out.getvalue()
    assert "arch: llama (Llama-style: RoPE, RMSNorm, SwiGLU" in text and "dropout 0.1" in text
    assert "lives in  topos completion" in text and "validation:" in text
    assert res.step == 4 and math.isfinite(res.val_bits)
    assert res.sample.startswith("def ") and len(res.sample) == 4 + 24
    state = json.loads((tmp_path / "run" / "demo.json").read_text())["config"]
    assert (state["arch"], state["dropout"]) == ("llama", 0.1)
    paths = load_checkpoint(tmp_path / "run" / "checkpoint")["paths"]
    assert "blocks.mlp.gate.w" in paths and "pos.table" not in paths
    with pytest.raises(DemoError, match="--arch llama differs from the run being resumed|--arch"):
        demo.run({"resume": True, "out": str(tmp_path / "run"), "arch": "gpt"}, stdout=out)


def test_the_keyed_batches_depend_on_the_step_only() -> None:
    batches = demo.keyed_batches(
        demo.make_batches(np.arange(50, dtype=np.int32), 4, 3, 0), DemoConfig(batch=3, seed=2)
    )
    (x, keys), y = batches(7)
    assert keys.tolist() == [2 * 7919 + 21, 2 * 7919 + 22, 2 * 7919 + 23]
    assert np.array_equal(batches(7)[0][0], x) and not np.array_equal(batches(8)[0][1], keys)


def test_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(DemoError, match="--heads"):
        demo.run(_tiny(tmp_path, heads=3), stdout=io.StringIO())
    with pytest.raises(DemoError, match="--arch must be one of gpt, llama"):
        demo.run(_tiny(tmp_path, arch="bert"), stdout=io.StringIO())
    with pytest.raises(DemoError, match="head width .* = 3 must be even"):
        demo.run(_tiny(tmp_path, arch="llama", d_model=6, heads=2), stdout=io.StringIO())
    with pytest.raises(DemoError, match=r"--dropout must be in \[0, 1\)"):
        demo.run(_tiny(tmp_path, dropout=1.0), stdout=io.StringIO())
    with pytest.raises(DemoError, match="unknown setting"):
        demo.run({"colour": "blue"}, stdout=io.StringIO())


def test_the_sample_is_greedy_decoding_by_generate_across_windows() -> None:
    """At temperature 0 the demo's sample is the greedy continuation, window after window."""
    from backends.apps.demo import DemoConfig, Vocab, build_model, sample_text
    from backends.jax import apply, init

    vocab = Vocab.build("abcdefgh ")
    cfg = DemoConfig(d_model=16, heads=2, layers=1, seq=8, prompt="ab", sample_chars=11,
                     temperature=0.0)  # fmt: skip
    fixed = build_model(cfg, len(vocab))
    params = init(fixed, jax.random.key(3))
    got = sample_text(params, vocab, cfg)
    run = jax.jit(lambda window: apply(fixed, params, window))  # one compilation, not op by op
    context, out = list(vocab.encode("ab")), []
    while len(out) < cfg.sample_chars:  # the reference: uncached, one position at a time
        for _ in range(min(cfg.sample_chars - len(out), cfg.seq - len(context))):
            window = context + [0] * (cfg.seq - len(context))
            logits = run(jnp.asarray(window, jnp.int32))
            context.append(int(jnp.argmax(logits[len(context) - 1])))
            out.append(context[-1])
        context = context[-(cfg.seq // 2) :]
    assert got == "ab" + vocab.decode(out)
    assert len(got) == 2 + cfg.sample_chars
