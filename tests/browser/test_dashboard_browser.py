"""The dashboard in real headless Chromium against a real server on 127.0.0.1.

One workspace for the module: an operator signs in, triggers a run on the small sample and
watches it finish, triggers a run on data with a new payment_type and sees the halted run's
validation report highlight the anomaly. Screenshots go to the test output directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlops.dashboard.auth import hash_password
from pipelines.config import PlatformConfig
from tests.conftest import REPO, cli_args, make_config, write_sample

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "browser-test-password"
RUN_TIMEOUT_MS = 1_500_000  # a real pipeline run on a busy 2-core machine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots: {directory}")
    return directory


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, sample_csv: Path) -> PlatformConfig:
    return make_config(tmp_path_factory.mktemp("browser-workspace"), sample_csv.parent)


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample with a payment_type value the curated schema does not know."""
    def new_payment(row: dict[str, str]) -> dict[str, str]:
        if int(row.get("trip_start_hour") or 0) % 2 == 0:
            row["payment_type"] = "Bitcoin"
        return row
    return write_sample(tmp_path_factory.mktemp("bad") / "data.csv", edit=new_payment)


@pytest.fixture(scope="module")
def server(config: PlatformConfig, shots: Path) -> Iterator[str]:
    """``mlops dashboard serve`` in a child process, as an operator would start it."""
    port = _free_port()
    digest = hash_password(PASSWORD, iterations=5000)
    env = {**os.environ, "MLOPS_DASHBOARD_USERS": f"alice:operator:{digest};bob:viewer:{digest}",
           "MLOPS_DASHBOARD_SECRET": "browser-test-secret"}
    log = open(shots / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops.cli", "dashboard", "serve", *cli_args(config),
         "--port", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert process.poll() is None, (shots / "server.log").read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(1)
    else:
        pytest.fail("dashboard did not start")
    yield base
    process.terminate()
    process.wait(timeout=60)
    log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run `infra/setup.sh --browser` "
                    "(apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _sign_in(browser, base: str, user: str):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    page.goto(f"{base}/runs")
    assert "/login" in page.url
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/runs")
    assert page.inner_text("#user").startswith(user)
    return page


def _wait_for_status(page, status: str) -> None:  # type: ignore[no-untyped-def]
    """The run page refreshes itself while the run is in progress; wait for the outcome
    (``status`` is a RunStatus name: pushed, halted, not_blessed, failed)."""
    page.wait_for_selector(f'#run-status[data-status="{status}"]', timeout=RUN_TIMEOUT_MS)


def test_wrong_password_is_refused(browser, server: str, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(f"{server}/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert "Wrong user name or password" in page.inner_text("main")
    page.screenshot(path=str(shots / "01-sign-in-refused.png"))
    page.close()


def test_viewer_sees_runs_but_no_trigger(browser, server: str, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page = _sign_in(browser, server, "bob")
    assert page.locator("#trigger").count() == 0
    assert "Viewers can follow runs" in page.inner_text("main")
    page.goto(f"{server}/drift")
    assert "no drift reports yet" in page.inner_text("#hint")
    page.screenshot(path=str(shots / "02-viewer-drift-hint.png"))
    page.close()


def test_operator_triggers_a_run_and_watches_it_finish(  # type: ignore[no-untyped-def]
        browser, server: str, shots: Path, config: PlatformConfig) -> None:
    page = _sign_in(browser, server, "alice")
    assert "No runs yet" in page.inner_text("main")
    page.screenshot(path=str(shots / "03-no-runs.png"))
    page.click("#trigger")
    page.wait_for_url(f"{server}/runs/*")
    run_id = page.url.rsplit("/", 1)[-1]
    assert f"Started run {run_id}" in page.inner_text("main")
    page.screenshot(path=str(shots / "04-run-started.png"))
    page.wait_for_selector("svg.graph g.node", timeout=RUN_TIMEOUT_MS)
    page.screenshot(path=str(shots / "05-run-in-progress.png"), full_page=True)
    _wait_for_status(page, "pushed")
    page.screenshot(path=str(shots / "06-run-pushed.png"), full_page=True)
    states = page.locator("svg.graph g.node").evaluate_all(
        "nodes => nodes.map(n => n.getAttribute('data-state'))")
    assert len(states) == 10 and set(states) <= {"COMPLETE", "CACHED"}
    page.goto(f"{server}/runs")
    row = page.locator(f'tr[data-run="{run_id}"]')
    assert "pushed" in row.inner_text() and "dashboard:alice" in row.inner_text()
    page.screenshot(path=str(shots / "07-runs-list.png"))
    page.click(f'tr[data-run="{run_id}"] >> text=evaluation')
    assert page.inner_text("#verdict") == "blessed"
    page.screenshot(path=str(shots / "08-evaluation.png"), full_page=True)
    page.close()


def test_bad_data_run_halts_and_its_report_highlights_the_anomaly(  # type: ignore[no-untyped-def]
        browser, server: str, shots: Path, bad_data: Path) -> None:
    page = _sign_in(browser, server, "alice")
    page.fill("input[name=data_source]", str(bad_data))
    page.click("#trigger")
    page.wait_for_url(f"{server}/runs/*")
    run_id = page.url.rsplit("/", 1)[-1]
    # a second start while this one runs is refused with a clear message
    page.goto(f"{server}/runs")
    page.evaluate("document.getElementById('trigger-form').submit()")
    page.wait_for_load_state()
    assert "Not started:" in page.inner_text("main")
    page.screenshot(path=str(shots / "09-second-run-refused.png"))
    page.goto(f"{server}/runs/{run_id}")
    _wait_for_status(page, "halted")
    page.screenshot(path=str(shots / "10-run-halted.png"), full_page=True)
    assert page.locator('svg.graph g.node[data-node="ValidationGate"]').get_attribute(
        "data-state") == "FAILED"
    page.click("text=Validation report")
    highlighted = page.locator('tr.anomaly[data-feature="payment_type"]')
    assert highlighted.count() == 1
    assert "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in highlighted.inner_text()
    assert "Bitcoin" in page.inner_text("#anomalies")
    assert page.locator("tr.anomaly").count() == 1  # only the feature that broke the schema
    colour = highlighted.locator("td").first.evaluate(
        "cell => getComputedStyle(cell).backgroundColor")
    assert colour == "rgb(255, 241, 242)"
    page.screenshot(path=str(shots / "11-validation-anomaly.png"), full_page=True)
    page.close()


def test_operator_promotes_a_model_and_sees_the_alias_move(  # type: ignore[no-untyped-def]
        browser, server: str, shots: Path) -> None:
    """The pushed run of the first test registered a version (alias candidate) in MLflow."""
    page = _sign_in(browser, server, "alice")
    page.goto(f"{server}/models")
    assert page.locator("#hint").count() == 0, page.inner_text("#hint")
    versions = page.locator("#versions tr[data-version]")
    assert versions.count() >= 1
    version = versions.first.get_attribute("data-version")
    page.fill("#promote-form input[name=version]", str(version))
    page.fill("#promote-form input[name=alias]", "staging")
    page.fill("#promote-form input[name=reason]", "promoted by the browser test")
    page.check("#promote-form input[name=confirm]")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#promote-form button[type=submit]")
    page.wait_for_load_state()
    assert "staging" in page.inner_text(f'#versions tr[data-version="{version}"] .aliases')
    page.screenshot(path=str(shots / "12-promoted.png"), full_page=True)
    page.close()
