"""Whether a test may skip for want of a service or a program, or must fail.

Where a broker, a database or a program (Nagios 4, promtool) cannot be had, its tests
are skipped with one line saying why, except with ``CI=true``, where they fail: CI must
prove the real thing (``make test`` installs the programs where it can).
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str, why: object) -> None:
    """Skip the test (fail it in CI): ``what`` cannot be had, because ``why``."""
    message = f"{what} unavailable: {why}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_program(name: str, why: str) -> str:
    """The path of program ``name`` on PATH (or /usr/sbin), else skip (fail in CI)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        unavailable(name, f"not installed ({why})")
    assert found is not None
    return found
