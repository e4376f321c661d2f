"""`pip install .` carries the templates, static files and migrations with the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_carries_templates_static_and_migrations(tmp_path):
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0 and "hatchling" in built.stderr:
        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(tmp_path.glob("billdesk-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "billdesk/templates/base.html" in names
    assert "billdesk/static/css/billdesk.css" in names
    assert any(n.startswith("billdesk/migrations/billdesk_") for n in names)
    assert "billdesk/cli.py" in names
    assert "billdesk/common_passwords.txt" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "billdesk = billdesk.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
