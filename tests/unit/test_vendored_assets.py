"""The console's vendored front-end files are what the manifest says, and the manifest is
what ``web/package-lock.json`` pins (a fresh ``npm ci`` comparison is in
``tests/integration/test_vendored_assets.py``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from engine.web import VENDOR, vendored
from web.vendor import FILES, WEB, locked_versions


def test_the_manifest_lists_exactly_the_files_vendor_copies() -> None:
    listed = {(entry.package, entry.path) for entry in vendored()}
    assert listed == {(package, path) for package, paths in FILES.items() for path in paths}
    on_disk = {path.name for path in VENDOR.iterdir()} - {"manifest.json"}
    assert on_disk == {entry.file for entry in vendored()}, "a stray or missing vendored file"


def test_each_file_is_the_version_the_lock_pins_byte_for_byte() -> None:
    versions = locked_versions(WEB / "package-lock.json")
    for entry in vendored():
        assert entry.version == versions[entry.package], f"{entry.file}: not the locked version"
        digest = hashlib.sha256((VENDOR / entry.file).read_bytes()).hexdigest()
        assert digest == entry.sha256, f"{entry.file} changed since it was vendored"


def test_the_lock_pins_what_package_json_asks_for() -> None:
    wanted = json.loads(Path(WEB / "package.json").read_text())["dependencies"]
    assert wanted == locked_versions(WEB / "package-lock.json")
