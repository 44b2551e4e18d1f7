"""The vendored front-end files cannot drift from the lock: a fresh ``npm ci`` of
``web/package-lock.json`` holds the same bytes; they ship in the wheel; the node serves them
without a token."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import aiohttp
import pytest

from engine.web import VENDOR, vendored
from tests.support.api_deployment import Deployment
from tests.support.services import require_program
from web.vendor import install

ROOT = Path(__file__).resolve().parents[2]


def test_a_fresh_npm_ci_of_the_lock_holds_the_vendored_bytes(tmp_path: Path) -> None:
    require_program("npm", "Node.js's npm, to install the lock")
    modules = install(tmp_path)
    for entry in vendored():
        fresh = (modules / entry.package / entry.path).read_bytes()
        assert fresh == (VENDOR / entry.file).read_bytes(), (
            f"{entry.file} differs from {entry.package}@{entry.version}/{entry.path}: "
            "run python web/vendor.py"
        )


def test_the_wheel_ships_the_vendored_files(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("schemas", "projections", "engine"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("sitelog-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for entry in vendored():
        assert f"engine/web/static/vendor/{entry.file}" in names
    assert "engine/web/static/vendor/manifest.json" in names


@pytest.mark.asyncio(loop_scope="session")
async def test_the_node_serves_them_without_a_token(
    deployment: Deployment, http_session: aiohttp.ClientSession
) -> None:
    for entry in vendored():
        url = f"{deployment.urls['paris']}/static/vendor/{entry.file}"
        async with http_session.get(url) as response:
            assert response.status == 200
            assert await response.read() == (VENDOR / entry.file).read_bytes()
            expected = "text/css" if entry.file.endswith(".css") else "javascript"
            assert expected in response.headers["Content-Type"]
    for absent in ("vendor/nope.js", "..%2F..%2Fapi%2Fapp.py", "%2e%2e/static.py"):
        async with http_session.get(f"{deployment.urls['paris']}/static/{absent}") as missing:
            assert missing.status == 404, absent  # outside static/ is never served
            assert (await missing.json())["error"]["code"] == "not-found"
