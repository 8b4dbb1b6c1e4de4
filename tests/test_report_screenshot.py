"""Render report.html in headless Chromium and check that a real page comes out (skipped without it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from test_report import make_demo
from unlearnkit.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html: Path, png: Path, profile: Path) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        "--window-size=1280,2400",
        html.resolve().as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
def test_report_renders_in_a_browser(tmp_path):
    demo = make_demo(tmp_path / "demo")
    _, html = build_report([demo], demo, timestamp=None)
    shot = tmp_path / "shot.png"
    result = screenshot(html, shot, tmp_path / "profile")
    assert shot.is_file(), f"chromium wrote no screenshot:\n{result.stderr[-2000:]}"
    assert shot.stat().st_size > 20_000
    image = pytest.importorskip("matplotlib.image").imread(shot)
    assert image.shape[0] >= 2000 and image.shape[1] >= 1200
    rgb = image[..., :3].reshape(-1, 3)
    assert (rgb.max(axis=0) - rgb.min(axis=0)).max() > 0.5, "the page rendered as a single colour"
