"""The review loop in a real browser: headless Chromium (driven over the DevTools protocol) opens the
queue served by ``python -m user_pipeline.labels.review``, submits reviews through the page's forms,
commits them, and sees the new labels version and the spam filter the embedded runner retrained
on it (the fix DAG's asset event). Slow (an embedded Airflow run): marked e2e. Skipped where no
Chromium is installed."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from lineage.catalog import Catalog
from tests.e2e.small_config import small_config
from tests.user_pipeline.labels.helpers import SEED, commit_spam_labels
from user_pipeline.config import load_config
from user_pipeline.datagen import reference
from user_pipeline.labels import noise

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = [pytest.mark.skipif(BROWSER is None, reason="no Chromium on this machine (apt-get install chromium)"),
              pytest.mark.e2e, pytest.mark.timeout(900)]
REVIEWS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Page:
    """One tab of headless Chromium over the DevTools protocol (navigate, run a script, wait for loads)."""

    def __init__(self, ws):
        self.ws, self.ids = ws, itertools.count(1)

    async def call(self, method: str, **params):
        n = next(self.ids)
        await self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("id") == n:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message.get("result", {})

    async def eval(self, script: str):
        found = await self.call("Runtime.evaluate", expression=script, returnByValue=True)
        return found["result"].get("value")

    async def load(self, action: str) -> None:
        """Run ``action`` (a script that navigates or submits a form) and wait for the new page."""
        before = await self.eval("performance.timeOrigin")
        await self.eval(action)
        for _ in range(400):
            await asyncio.sleep(0.05)
            try:
                if (await self.eval("performance.timeOrigin")) != before and await self.eval(
                        "document.readyState") == "complete":
                    return
            except RuntimeError:  # the context went away mid-navigation
                continue
        raise TimeoutError(action)


async def browse(url: str, profile: Path) -> dict:
    """Review the first queued items, commit, and wait for the status page to show the retraining."""
    chromium = subprocess.Popen([BROWSER, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                 f"--user-data-dir={profile}", "--no-first-run", "--remote-debugging-port=0",
                                 "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(200):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        (tab,) = [t for t in targets if t["type"] == "page"]
        async with websockets.connect(tab["webSocketDebuggerUrl"], max_size=None) as ws:
            page = Page(ws)
            await page.load(f"location.href = {json.dumps(url + '/')}")
            queued = await page.eval("[...document.querySelectorAll('form[action=\"/review\"]')].length")
            reviewed = []
            for i in range(REVIEWS):
                # The i-th form: choose the label the model leans to, name the reviewer, submit.
                message_id = await page.eval(
                    f"document.querySelectorAll('form[action=\"/review\"]')[{i}].message_id.value")
                await page.load(f"""(() => {{
                    const f = document.querySelectorAll('form[action="/review"]')[{i}];
                    const p = parseFloat(f.closest('.item').textContent.match(/P\\(spam\\) = ([0-9.]+)/)[1]);
                    f.querySelector('input[value=' + (p >= 0.5 ? 'spam' : 'ham') + ']').click();
                    f.reviewer.value = 'browser-reviewer';
                    f.requestSubmit();
                }})()""")
                reviewed.append(message_id)
            decided = await page.eval("document.getElementById('decisions').textContent")
            await page.load("""(() => { const f = document.getElementById('commit');
                                        f.new_version.value = 'v2'; f.requestSubmit(); })()""")
            status = ""
            for _ in range(600):  # the embedded runner: the fix DAG, then spam_filter on its event
                status = await page.eval("document.body.innerText")
                if "failed" in status or "train_spam_filter:" in status and "success" in status:
                    break
                await asyncio.sleep(1)
                await page.load("location.reload()")
            return {"queued": queued, "reviewed": reviewed, "decided": decided, "status": status}
    finally:
        chromium.terminate()
        chromium.wait(timeout=30)


def test_review_submit_commit_and_see_the_retrained_spam_filter(tmp_path, monkeypatch):
    config, env = small_config(tmp_path, users_per_day=50)
    monkeypatch.setenv("PIPELINE_CONFIG", str(config))
    for key in [k for k in os.environ if k.startswith(("OPENLINEAGE", "PIPELINE_DATA_ROOT"))]:
        monkeypatch.delenv(key)
    cfg = load_config()
    commit_spam_labels(cfg, "v1", reference.spam_labels(SEED).slice(0, 600))
    noise.run(["--config", str(config), "--labels-version", "v1"])
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "user_pipeline.labels.review", "--config", str(config),
                               "--labels-version", "v1", "--port", str(port), "--reviewer", "nobody"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(url + "/", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        result = asyncio.run(browse(url, tmp_path / "profile"))
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert result["queued"] > REVIEWS, output
    assert result["decided"].startswith(f"{REVIEWS} message(s) decided"), result
    status = result["status"]
    assert "success" in status and "train_spam_filter:" in status, status[-3000:]
    catalog = Catalog(cfg)
    decisions = catalog.read_table("reference.spam_label_decisions", "v1").to_pandas()
    assert sorted(decisions["message_id"]) == sorted(result["reviewed"])
    assert set(decisions["reviewer"]) == {"browser-reviewer"}
    labels = catalog.require("reference.spam_labels", "v2")
    decided = catalog.require("reference.spam_label_decisions", "v1")
    assert decided.version in {i["version"] for i in labels.inputs}
    assert "trained on labels version v2" in status
    model_inputs = [m for v in catalog.committed("models.spam_filter")
                    if (m := catalog.require("models.spam_filter", v)).extra.get("labels_version") == "v2"]
    assert len(model_inputs) == 1 and model_inputs[0].inputs[0]["version"] == labels.version
