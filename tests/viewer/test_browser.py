"""The viewer in a real headless browser (Debian's chromium driven by Playwright).

A small pipeline run (``byob run``, whose Procfile starts the viewer) is watched live; the
run it recorded is then replayed by ``byob view --run latest``; and a viewer with no
pipeline says that it waits for one. Each test saves a screenshot under its tmp_path
and under test-output/viewer/. Skipped only where /usr/bin/chromium is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.runtime.wiring import free_base_port
from viewer.serve import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SAMPLES = 120

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                "(.ci/run installs it: apt-get install chromium)")

# The data sources the page must fill from a run (see viewer.panels): name -> column.
SHOWN = {"byob_raster_input": "t", "byob_raster_hidden": "t", "byob_accuracy": "running",
         "byob_current_input": "t", "byob_activity_hidden": "rate", "byob_metrics": "t"}
SOURCES_JS = """() => { const out = {};
  for (const d of Bokeh.documents) for (const m of d._all_models.values())
    if (m.name && m.name.startsWith('byob_') && m.data) {
      const cols = Object.keys(m.data); out[m.name] = cols.length ? m.data[cols[0]].length : 0;
      if (m.name === 'byob_fields') out.fields_dw = m.data.dw[0]; }
  return out; }"""


class Proc:
    """A subprocess whose merged output a thread collects, with line waits that fail
    instead of hanging."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.p.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.text)
            if m:
                return m
            if self.p.poll() is not None:
                time.sleep(0.2)
                m = re.search(pattern, self.text)
                if m:
                    return m
                raise AssertionError(f"exited ({self.p.returncode}) before {pattern!r}:\n{self.text[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.text[-3000:]}")

    def stop(self, timeout: float = 20) -> int:
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        return self.p.returncode





def base_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1",
            "BYOB_BASE_PORT": str(free_base_port())}


def wait_page(page, check, timeout: float, what: str):
    """Poll ``check(page)`` until it returns a truthy value."""
    end, last = time.monotonic() + timeout, None
    while time.monotonic() < end:
        last = check(page)
        if last:
            return last
        page.wait_for_timeout(250)
    raise AssertionError(f"the page never showed {what}; last: {last}")


def status(page) -> dict[str, str]:
    el = page.locator(".byob-status")
    if not el.count():
        return {}
    return {k: el.get_attribute(f"data-{k}") or "" for k in
            ("source", "phase", "run", "samples", "weights", "accuracy", "tested", "sessions")}


def shows_run_data(page, run: str | None = None) -> dict | None:
    st = status(page)
    if not st or int(st["samples"] or 0) == 0 or not st["weights"] or not st["accuracy"]:
        return None
    if run is not None and st["run"] != run:
        return None
    src = page.evaluate(SOURCES_JS)
    if any(src.get(name, 0) == 0 for name in SHOWN) or src.get("fields_dw", 1) <= 1:
        return None  # fields_dw > 1: the receptive-field grid of a real weight snapshot
    return {**st, **src}


def screenshot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    out = ROOT / "test-output" / "viewer"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / name, out / name)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_without_a_pipeline_the_page_says_it_waits_and_sessions_are_released(browser, tmp_path):
    bus = f"tcp://127.0.0.1:{free_port()}"
    view = Proc(["pipeline.cli", "view", "--bus", bus, "--port", str(free_port()), "--store",
                 str(tmp_path / "none.zarr")], base_env(), tmp_path)
    try:
        url = view.wait_for(r"byob viewer: (http://127\.0\.0\.1:\d+/)", 60).group(1)
        first = browser.new_page()
        first.goto(url)
        first.get_by_text(f"Waiting for a pipeline on {bus}").wait_for(timeout=30_000)
        assert status(first)["phase"] == "waiting"
        assert first.get_by_text("Traceback").count() == 0 and first.get_by_text("Error").count() == 0
        screenshot(first, tmp_path, "waiting.png")
        second = browser.new_page()
        second.goto(url)
        wait_page(second, lambda p: status(p).get("sessions") == "2", 20, "two browsers attached")
        first.close()  # its session is released: its periodic callback and models go
        wait_page(second, lambda p: status(p).get("sessions") == "1", 30, "the closed session released")
        second.close()
    finally:
        rc = view.stop()
    assert rc == 0, view.text[-2000:]


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    """``byob run`` with the Procfile's viewer, staying up after its job."""
    tmp = tmp_path_factory.mktemp("live")
    env = {**base_env(), "BYOB_VIEWER_PORT": str(free_port())}
    proc = Proc(["pipeline.cli", "run", "--epochs", "1", "--samples", str(SAMPLES), "--store",
                 str(tmp / "runs.zarr"), "--model-dir", str(tmp / "models")], env, tmp)
    try:
        url = proc.wait_for(r"byob viewer: (http://127\.0\.0\.1:\d+/)", 120).group(1)
        yield {"proc": proc, "url": url, "store": tmp / "runs.zarr", "env": env, "tmp": tmp}
    finally:
        subprocess.run([sys.executable, "-m", "pipeline.cli", "stop"], env=env, cwd=tmp, timeout=30,
                       capture_output=True)
        try:
            proc.p.wait(30)
        finally:
            proc.stop()
    assert re.search(r"viewer\.1 stopped \(rc=0\)", proc.text), proc.text[-3000:]


def test_live_page_shows_the_running_pipeline(browser, live_run, tmp_path):
    page = browser.new_page(viewport={"width": 1440, "height": 1200})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_run["url"])
    shown = wait_page(page, shows_run_data, 150, "rasters, receptive fields and accuracy of the run")
    assert shown["source"] == "live" and shown["run"].startswith("run_")
    assert page.get_by_text("LIVE", exact=True).count() == 1
    # the test accuracy arrives when the run ends: everything of it was seen
    done = wait_page(page, lambda p: status(p)["phase"] == "ended" and status(p), 120, "the end of the run")
    assert int(done["samples"]) == SAMPLES and int(done["tested"]) > 0
    screenshot(page, tmp_path, "live.png")
    assert not errors, errors
    page.close()


def test_replay_page_shows_a_recorded_run(browser, live_run, tmp_path):
    from store.runs import list_runs

    store = live_run["store"]
    end = time.monotonic() + 150
    while not any(r.get("ended") for r in (list_runs(store) if store.exists() else [])):
        assert time.monotonic() < end, "the live run never finished recording"
        time.sleep(0.5)
    run = [r for r in list_runs(store) if r.get("ended")][-1]["run"]
    port = free_port()
    view = Proc(["pipeline.cli", "view", "--store", str(store), "--run", "latest", "--port", str(port),
                 "--rate", "2"],
                base_env(), tmp_path)
    try:
        url = view.wait_for(r"byob viewer: (http://127\.0\.0\.1:\d+/)", 60).group(1)
        page = browser.new_page(viewport={"width": 1440, "height": 1200})
        page.goto(url)
        shown = wait_page(page, lambda p: shows_run_data(p, run), 60, "the replayed run's data")
        assert shown["source"] == "replay"
        assert page.get_by_text("REPLAY", exact=True).count() == 1
        page.get_by_role("button", name="❚❚ pause").click()
        paused = wait_page(page, lambda p: status(p)["phase"] == "paused" and status(p), 10, "paused")
        page.wait_for_timeout(800)
        assert status(page)["samples"] == paused["samples"]  # paused: nothing moves
        page.get_by_role("button", name="▶ play").click()
        wait_page(page, lambda p: status(p)["phase"] == "ended", 60, "the replay to reach the end")
        assert int(status(page)["samples"]) == SAMPLES
        screenshot(page, tmp_path, "replay.png")
        page.close()
    finally:
        rc = view.stop()
    assert rc == 0 and "byob viewer: stopped" in view.text, view.text[-2000:]


def test_a_replay_on_the_live_bus_switches_the_page_to_replay_and_back(browser, live_run, tmp_path):
    """``byob replay latest`` while the pipeline is up: the page shows REPLAY with that run's
    header and a display of its own (never more samples than the run has), then the live
    run again once the replay has ended."""
    page = browser.new_page(viewport={"width": 1440, "height": 1200})
    page.goto(live_run["url"])
    done = wait_page(page, lambda p: status(p).get("phase") == "ended" and status(p), 240, "the live run's end")
    assert done["source"] == "live" and int(done["samples"]) == SAMPLES
    # a quarter of the recorded pace: the replay lasts long enough to be looked at
    replay = Proc(["pipeline.cli", "replay", "latest", "--store", str(live_run["store"]), "--rate", "0.25"],
                  live_run["env"], tmp_path)

    def replaying(p):
        shown = shows_run_data(p, done["run"]) if status(p).get("source") == "replay" else None
        badge = p.get_by_text("REPLAY", exact=True).count() == 1 and p.get_by_text("LIVE", exact=True).count() == 0
        return shown if shown and badge and status(p).get("source") == "replay" else None
    try:
        shown = wait_page(page, replaying, 90, "the replay on the bus, badged REPLAY")
        assert 0 < int(shown["samples"]) <= SAMPLES and shown["phase"] in ("training", "evaluating", "ended")
        screenshot(page, tmp_path, "replay_on_live_bus.png")
        most = int(shown["samples"])

        def back_to_live(p):
            nonlocal most
            st = status(p)
            if st.get("source") == "replay":
                most = max(most, int(st["samples"] or 0))
                return None
            return st.get("source") == "live" and st
        live = wait_page(page, back_to_live, 120, "the live run again after the replay")
        assert most <= SAMPLES  # the replayed samples were never appended to the finished run
        assert live["phase"] == "ended" and int(live["samples"]) == SAMPLES and live["run"] == done["run"]
        assert page.get_by_text("LIVE", exact=True).count() == 1
        assert replay.p.wait(30) == 0, replay.text[-2000:]
    finally:
        replay.stop()
        page.close()
