"""benchmarks/gpu.py runs on CPU with ``--tiny`` and prints its one table; the plain-JAX
decoder of benchmarks/generate.py draws the tokens ``generate`` draws (its premise)."""

from __future__ import annotations

import pytest
from _benchmarks import load

pytest.importorskip("equinox", reason="equinox is a test-only dependency")


def test_the_hand_decoder_draws_the_tokens_generate_draws() -> None:
    gen = load("generate")
    size = gen.Size(d=16, layers=2, heads=2, kv_heads=1, hidden=24, vocab=32)
    cases = [("gpt", "greedy", 2, "values"), ("llama", "top-k", 1, "positions"),
             ("llama", "greedy", 3, "heads")]  # every cache layout  # fmt: skip
    for preset, mode, batch, layout in cases:
        case = gen.Case(preset, 16, mode, batch)
        out = gen.run_case(case, size, steps=6, rounds=1, layout=layout)
        assert out["same"] == 1.0, (preset, mode)  # top-k: the same draws from equal logits
        assert out["generate"] > 0 and out["hand"] > 0


def test_gpu_script_runs_tiny_on_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    lines = load("gpu").main(["--tiny", "--rounds", "1"])
    rows = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    workloads = {row.split("|")[1].strip() for row in rows}
    assert workloads == {
        "train: demo transformer", "train: Llama preset", "decode: gpt preset",
        "decode: llama preset",
    }  # fmt: skip
    assert len(rows) == 11  # an Objective row in each training workload
    for row in rows:  # a finite time and flop rate in every row
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[2].endswith(" ms") and float(cells[2][:-3]) > 0
        assert float(cells[4]) > 0
    out = capsys.readouterr().out
    assert "| train: demo transformer | topos |" in out
    assert "| train: Llama preset | topos (Objective) |" in out
