"""The web page in a real browser: headless Chromium (Debian's ``chromium``) opens the impact view of
a demo graph served by ``lineage serve``; the test checks the highlighted impact is in the rendered
page and saves a screenshot. Skipped where no Chromium is installed (``.ci/run`` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.lineage.test_queries import story_events
from tests.lineage.test_service import live  # noqa: F401 - the live server fixture

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium on this machine (apt-get install chromium)")


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    return subprocess.run([BROWSER, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           f"--user-data-dir={profile}", "--no-first-run", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_impact_page_renders_with_current_and_superseded_nodes(live, tmp_path):  # noqa: F811
    url, _ = live
    assert httpx.post(f"{url}/api/v1/lineage/batch", json=story_events()[0], timeout=60).status_code == 201
    page = f"{url}/view?artifact=reference.spam_labels@L1&query=impact"
    dom = _chromium("--dump-dom", "--virtual-time-budget=3000", page, profile=tmp_path / "profile").stdout
    assert "<svg" in dom
    # The story's answer: 5 superseded artifacts (the fixed D1 branch), 11 still current, 1 seed.
    assert dom.count('class="node superseded"') == 5
    assert dom.count('class="node current"') == 11
    assert dom.count('class="node seed"') == 1
    assert "reference.spam_labels" in dom and "Run details" in dom

    shots = Path(os.environ.get("LINEAGE_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "lineage-impact.png"
    done = _chromium(f"--screenshot={shot}", "--window-size=1600,1200", "--virtual-time-budget=3000", page,
                     profile=tmp_path / "profile2")
    assert shot.exists(), done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
