"""The demo's pieces (corpus, vocabulary, statistics, batches, sampling) and a tiny run."""

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

from backends.jax import demo
from backends.jax.demo import (
    UNKNOWN,
    CorpusError,
    DemoConfig,
    DemoError,
    Interrupted,
    Vocab,
    corpus_files,
    eval_windows,
    evaluate_bits,
    load_corpus,
    make_batches,
    sampler,
    unigram_bits,
)
from backends.jax.fit import load_checkpoint


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


# -- corpus --------------------------------------------------------------------------


def test_corpus_files_are_deterministic_and_skip_tests(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path / "c")
    files = corpus_files(root)
    assert files == corpus_files(root)
    assert {f.name for f in files} == {f"mod{i:02d}.py" for i in range(12)}


def test_validation_is_held_out_by_file(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path / "c")
    corpus = load_corpus(root, 10**6, 10**6)
    assert (corpus.train_files, corpus.val_files) == (11, 1)
    assert "SKIPPED_MARKER" not in corpus.train + corpus.val
    val_funcs = {line.split("(")[0] for line in corpus.val.splitlines() if line.startswith("def")}
    train_funcs = {
        line.split("(")[0] for line in corpus.train.splitlines() if line.startswith("def")
    }
    assert val_funcs and not val_funcs & train_funcs  # no validation file leaks into training


def test_corpus_budgets_cut_each_side(tmp_path: Path) -> None:
    root = _write_corpus(tmp_path / "c")
    corpus = load_corpus(root, 1000, 300)
    assert len(corpus.train) == 1000 and len(corpus.val) == 300


def test_stdlib_is_the_default_corpus() -> None:
    corpus = load_corpus(None, 20_000, 5_000)
    assert len(corpus.train) == 20_000 and len(corpus.val) == 5_000
    assert corpus.root == str(demo.stdlib_path())
    assert "site-packages" not in corpus.root


def test_corpus_errors_are_demo_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "missing", 10, 10)
    assert issubclass(CorpusError, DemoError)


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
    with pytest.raises(CorpusError, match="--seq 8"):
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


# -- sampling ------------------------------------------------------------------------


def _successor_logits(seq: int, vocab: int) -> object:
    """A causal 'model' whose logits at position i predict window[i] + 1 (mod vocab)."""

    def logits(params: float, window: jax.Array) -> jax.Array:
        assert window.shape == (seq,)
        return params * jax.nn.one_hot((window + 1) % vocab, vocab)

    return logits


@pytest.mark.parametrize(("prompt_len", "length"), [(1, 3), (2, 12), (7, 5)])
def test_sampler_slides_its_window_past_the_context(prompt_len: int, length: int) -> None:
    seq, vocab = 4, 11
    sample = sampler(_successor_logits(seq, vocab), seq, length, temperature=0.5)  # type: ignore[arg-type]
    prompt = np.arange(prompt_len, dtype=np.int32)
    out = sample(100.0, prompt, jax.random.key(0))
    expected = [(prompt_len + k) % vocab for k in range(length)]
    assert out.tolist() == expected


def test_sampler_is_seeded() -> None:
    sample = sampler(lambda p, w: jnp.zeros((4, 5)) + p, 4, 30, temperature=1.0)
    a = sample(0.0, np.array([1], np.int32), jax.random.key(1))
    b = sample(0.0, np.array([1], np.int32), jax.random.key(1))
    c = sample(0.0, np.array([1], np.int32), jax.random.key(2))
    assert (a == b).all() and not (a == c).all()
    assert a.min() >= 0 and a.max() < 5


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


def test_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(DemoError, match="--heads"):
        demo.run(_tiny(tmp_path, heads=3), stdout=io.StringIO())
    with pytest.raises(DemoError, match="unknown setting"):
        demo.run({"colour": "blue"}, stdout=io.StringIO())
