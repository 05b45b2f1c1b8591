"""The GD example's table and plots (the training itself is covered by tests/backends/jax)."""

from pathlib import Path

from backends.apps import gd


def _result() -> dict:
    curve = {"step": [0, 100], "loss": [[1.6, 1.5], [0.82, 0.83]], "l2": [[1.0, 1.0], [0.1, 0.2]],
             "cos": [[0.0, 0.1], [0.99, 0.98]], "sens_l2": [[2.0, 2.0], [0.2, 0.3]]}  # fmt: skip
    final = {k: v[-1] for k, v in curve.items() if k != "step"}
    return {"seeds": [0, 1], "eta_star": 1.5, "gd_loss": 0.817, "zero_loss": 1.6,
            "construction_max_abs": 1e-6, "final": final, "curves": curve}  # fmt: skip


def test_table_lists_the_measures_and_every_seed() -> None:
    text = gd.table(_result())
    assert "0.8250 ± 0.0050" in text and "eta* = 1.500" in text
    assert "| 1 | 0.8300 | 0.2000 | 0.9800 |" in text


def test_plots_are_written(tmp_path: Path) -> None:
    paths = gd.plot(_result(), tmp_path)
    assert [p.name for p in paths] == ["gd_loss.png", "gd_alignment.png"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_the_cli_runs_it_as_topos_demo_gd(capsys) -> None:
    from backends.apps.cli import main

    assert main(["demo", "gd", "--help"]) == 0
    assert "topos demo gd" in capsys.readouterr().out
    assert main(["demo", "gd", "--seeds", "x"]) == 2


def test_an_unknown_schedule_is_refused_by_name(capsys) -> None:
    import pytest

    with pytest.raises(ValueError, match="schedule must be one of .*'warm'"):
        gd.run(seeds=1, steps=1, schedule="warm", say=lambda _: None)
    from backends.apps.flags import UsageError

    with pytest.raises(UsageError, match="invalid choice: 'warm'"):
        gd.main(["--schedule", "warm"])


def test_run_checks_its_sizes_and_rates_by_name() -> None:
    import pytest

    with pytest.raises(ValueError, match="seeds must be an integer >= 1, got 0"):
        gd.run(seeds=0, steps=1, say=lambda _: None)
    with pytest.raises(ValueError, match="learning_rate must be a positive finite number"):
        gd.run(seeds=1, steps=1, learning_rate=float("nan"), say=lambda _: None)
