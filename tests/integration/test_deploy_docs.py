"""The deployment instructions work from what the repository holds: no package index has
``logmarket``, so every install is from a checkout or the wheel ``make dist`` builds; podman
builds keep the HEALTHCHECK (``--format docker``); the units' ``Documentation=`` names the
README and deploy guide as the install steps put them on the host."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO

DOCS = {p: (REPO / p).read_text() for p in ("README.md", "docs/deploy.md", "Dockerfile")}
UNITS = REPO / "systemd"


def _pip_installs() -> list[tuple[str, str]]:
    found = []
    for name, text in DOCS.items():
        for m in re.finditer(r"pip install ([^\n`]*)", text):
            found.append((name, m.group(1)))
    return found


def test_every_pip_install_is_of_a_checkout_or_a_built_wheel() -> None:
    installs = _pip_installs()
    assert installs
    for name, args in installs:
        args = args.split(" #")[0]
        targets = [a.strip("'\"") for a in args.split() if not a.startswith("-")]
        assert targets, (name, args)
        for target in targets:
            local = target.startswith((".", "/", "dist/")) or "*.whl" in target
            local = local or (target.startswith("logmarket[") and "--find-links" in args)
            assert local, f"{name}: pip install {args} (from an index that has no logmarket)"
    assert any("dist/logmarket-" in a and ".whl" in a for _, a in installs)


def test_make_dist_builds_a_wheel_with_both_programs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    result = subprocess.run(["make", "--no-print-directory", "dist", f"DIST={dist}"], cwd=REPO,
                            capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    wheels = list(dist.glob("logmarket-*.whl"))
    assert len(wheels) == 1, list(dist.iterdir())
    with zipfile.ZipFile(wheels[0]) as z:
        names = z.namelist()
        entry = next(n for n in names if n.endswith("entry_points.txt"))
        scripts = z.read(entry).decode()
    assert "logmarket = logmarket.cli:main" in scripts and "logmarketd = " in scripts
    assert "logmarketd/serve/static/index.html" in names and not any(
        n.startswith("tests/") for n in names
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin/pip"), "install", "-q", "--no-deps", "--no-index",
                    str(wheels[0])], check=True, timeout=300)  # fmt: skip
    version = subprocess.run([str(venv / "bin/logmarket"), "--version"],
                             capture_output=True, text=True, check=True)  # fmt: skip
    assert version.stdout.startswith("logmarket 0."), version.stdout


def test_podman_builds_keep_the_healthcheck() -> None:
    builds = [
        (n, line) for n, t in DOCS.items() for line in t.splitlines() if "podman build" in line
    ]
    assert builds, "podman is documented beside docker"
    for name, line in builds:
        assert "--format docker" in line, f"{name}: {line}"


def test_units_documentation_points_at_files_the_install_puts_there() -> None:
    deploy = DOCS["docs/deploy.md"]
    for unit in ("logmarketd.service", "logmarketd.socket"):
        docs = [line.split("=", 1)[1] for line in (UNITS / unit).read_text().splitlines()
                if line.startswith("Documentation=")]  # fmt: skip
        uris = " ".join(docs).split()
        assert uris, unit
        for uri in uris:
            assert "pypi.org" not in uri, uri
            assert uri.startswith("file:"), uri
            target = uri.removeprefix("file:")
            installed = re.search(rf"install [^\n]*?(\S+) {re.escape(target)}\b", deploy)
            assert installed, f"{unit}: nothing in docs/deploy.md installs {target}"
            assert (REPO / installed.group(1)).is_file(), installed.group(1)
