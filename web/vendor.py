"""Vendor the console's front-end files: ``python web/vendor.py``.

Installs exactly what ``web/package-lock.json`` pins (``npm ci``, into ``web/node_modules``,
which git ignores), copies the files the console serves into
``engine/web/static/vendor/``, and writes ``manifest.json`` there: for each file, the npm
package and version it came from and its SHA-256. The copies are committed, so a user needs
no Node.js and the node loads nothing from another origin; the tests check the copies
against the manifest and, where npm can be run, against a fresh ``npm ci`` of the lock
(``tests/integration/test_vendored_assets.py``), so they cannot drift from the lock.

To upgrade: change a version in ``web/package.json``, run ``npm install --package-lock-only``
in ``web/``, then this script, and commit the three.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parent
VENDOR = WEB.parent / "engine" / "web" / "static" / "vendor"

#: What the console serves, by npm package: paths inside the package.
FILES: dict[str, tuple[str, ...]] = {
    "htmx.org": ("dist/htmx.min.js",),
    "htmx-ext-sse": ("dist/sse.min.js",),
    "idiomorph": ("dist/idiomorph-ext.min.js",),
    "uplot": ("dist/uPlot.iife.min.js", "dist/uPlot.min.css"),
}


def locked_versions(lock: Path) -> dict[str, str]:
    """The version ``package-lock.json`` pins for each package of :data:`FILES`."""
    packages = json.loads(lock.read_text(encoding="utf-8"))["packages"]
    return {name: packages[f"node_modules/{name}"]["version"] for name in FILES}


def install(into: Path) -> Path:
    """``npm ci`` of the lock into ``into`` (a copy of web/'s package files); its node_modules."""
    if into.resolve() != WEB:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(WEB / name, into / name)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=into,
        check=True,
        capture_output=True,
        text=True,
    )
    return into / "node_modules"


def main() -> int:
    modules = install(WEB)
    versions = locked_versions(WEB / "package-lock.json")
    VENDOR.mkdir(parents=True, exist_ok=True)
    manifest = []
    for package, paths in FILES.items():
        for path in paths:
            source = modules / package / path
            target = VENDOR / Path(path).name
            shutil.copyfile(source, target)
            manifest.append(
                {
                    "file": target.name,
                    "package": package,
                    "version": versions[package],
                    "path": path,
                    "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
                }
            )
    (VENDOR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"vendored {len(manifest)} files into {VENDOR.relative_to(WEB.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
