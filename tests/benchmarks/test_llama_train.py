"""benchmarks/llama_train.py: the hand-written Equinox Llama equals topos's model on shared
weights (the benchmark's premise), its step trains, and the results section is replaced in
place, only when ``--out`` asks for it."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _benchmarks import load

pytest.importorskip("penzai", reason="penzai is a test-only dependency: pip install penzai")
pytest.importorskip("equinox", reason="equinox is a test-only dependency")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def test_the_hand_written_model_computes_topos_logits_and_trains() -> None:
    """Penzai's side is held equal to topos in tests/backends/jax/test_penzai.py."""
    bench = load("llama_train")
    variants, n_params = bench.variants(bench.QUICK, penzai=False)
    assert [v.name.split()[0] for v in variants] == ["topos", "equinox", "equinox"]
    tokens, targets = bench.batches(bench.QUICK, 1)[0]
    logits = [np.asarray(jax.jit(v.logits)(v.params, tokens)) for v in variants]
    assert logits[0].shape == (bench.QUICK.batch, bench.QUICK.seq, bench.QUICK.vocab)
    assert np.abs(logits[0]).max() > 0.1 and n_params > 0
    for other in logits[1:]:
        np.testing.assert_allclose(other, logits[0], atol=1e-5)
    tx = optax.adam(1e-2)
    hand = variants[1]  # the step the benchmark times trains (on a copy: it donates)
    step = bench.make_step(hand.logits, tx)
    params = jax.tree.map(jnp.copy, hand.params)
    opt, losses = tx.init(params), []
    for _ in range(4):
        params, opt, loss = step(params, opt, (tokens, targets))
        losses.append(float(loss))
    assert losses[-1] < losses[0]


def test_the_results_section_is_replaced_not_repeated(tmp_path: Path) -> None:
    bench = load("llama_train")
    page = tmp_path / "results.md"
    page.write_text("# Benchmarks\n\n## Other\n\ntext\n")
    bench.write(["first"], page)
    bench.write(["second"], page)
    text = page.read_text()
    assert text.count("## Llama-style training step") == 1 and "first" not in text
    assert text.startswith("# Benchmarks\n\n## Other\n\ntext\n") and "second" in text


def test_a_run_prints_and_writes_results_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load("llama_train")
    monkeypatch.setattr(bench, "run", lambda size, rounds, per_round: ["| the table |"])
    tracked = (BENCH / "results.md").read_bytes()
    bench.main(["--quick"])
    assert "| the table |" in capsys.readouterr().out
    assert (BENCH / "results.md").read_bytes() == tracked  # no --out: nothing is rewritten
    page = tmp_path / "results.md"
    bench.main(["--quick", "--out", str(page)])
    assert "| the table |" in page.read_text()
