"""Past one host: the multi-host recipe of ``docs/sharding.md``, run as two processes.

Two processes on this machine (``jax.distributed.initialize`` over 127.0.0.1, CPU
collectives by gloo, 2 CPU devices each, a ``2x2`` mesh over the 4) run a sharded
``fit`` of 5 SGD steps with an Orbax checkpoint (``_multihost_run.py``); their
losses must equal the single-process, single-device run within 1e-6, and one
process alone must restore the checkpoint the two wrote. Every process is bounded
in time; the coordinator's port is a free one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

RUN = Path(__file__).with_name("_multihost_run.py")
LIMIT = 600  # seconds per process: a hung collective fails the test, never the suite


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _result(out: str) -> dict[str, Any]:
    line = [x for x in out.splitlines() if x.startswith("{")][-1]  # gloo logs to stdout too
    return json.loads(line)  # type: ignore[no-any-return]


def _run(*args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(RUN), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=LIMIT)
            assert p.returncode == 0, err[-3000:]
            outs.append(_result(out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    return outs


def test_two_processes_fit_like_one_and_one_restores_their_checkpoint(tmp_path: Path) -> None:
    port = str(_free_port())
    w0, w1 = _wait([_run("worker", str(i), port, str(tmp_path)) for i in (0, 1)])
    assert (w0["processes"], w0["devices"], w0["local"]) == (2, 4, 2)
    assert [w0["process"], w1["process"]] == [0, 1]
    assert w0["losses"] == w1["losses"] and len(w0["losses"]) == 5
    (one,) = _wait([_run("single", str(tmp_path))])
    assert np.max(np.abs(np.subtract(w0["losses"], one["losses"]))) <= 1e-6
    multi, single = np.load(w0["params"]), np.load(one["params"])
    for k in single.files:
        np.testing.assert_allclose(multi[k], single[k], rtol=0, atol=1e-6, err_msg=k)
    (back,) = _wait([_run("restore", str(tmp_path))])
    assert (back["devices"], back["step"], back["losses"]) == (1, 5, w0["losses"])
    restored = np.load(back["params"])
    for k in multi.files:  # what the two processes wrote, read by one: bit for bit
        np.testing.assert_array_equal(restored[k], multi[k], err_msg=k)
