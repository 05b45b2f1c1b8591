"""Size limits: init refuses parameters too large for the machine before allocating."""

from __future__ import annotations

import jax
import pytest

from backends.jax import init
from backends.jax.core.limits import check_total_size, device_memory, format_bytes
from topos import Box, R
from topos.para import Para, Param, zeros

HUGE = Para(R(2**20, 2**20), Box("f", R(2**20, 2**20) * R(1), R(1)), params={"w": zeros})


def test_init_of_a_4_tb_parameter_is_refused_before_allocating() -> None:
    # it used to return, and the process aborted later (issue 11, item 8)
    with pytest.raises(MemoryError, match=r"init: the arrays need 4\.0 TiB.*'w'.*max_bytes="):
        init(HUGE, jax.random.key(0), max_bytes=2**40)


def test_the_default_limit_is_the_device_memory() -> None:
    limit = device_memory()
    assert limit is None or limit > 0
    if limit is not None and limit < 4 * 2**40:
        with pytest.raises(MemoryError, match="over the limit of"):
            init(HUGE, jax.random.key(0))


def test_the_limit_can_be_raised() -> None:
    params = {"w": Param("w", R(1024), zeros)}
    assert check_total_size("init", params, max_bytes=4096) == 4096
    with pytest.raises(MemoryError, match="4.0 KiB, over the limit of 4.0 KiB"):
        check_total_size("init", params, max_bytes=4095)


def test_format_bytes() -> None:
    assert [format_bytes(n) for n in (0, 1023, 1024, 2**30)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.0 GiB",
    ]
