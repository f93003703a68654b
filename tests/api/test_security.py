"""Sign-in, roles, CSRF, path checks and error pages, on a workspace with no runs (fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlops.dashboard.auth import UsersError, hash_password, parse_users, verify_password
from mlops.runlock import run_lock
from pipelines.config import PlatformConfig
from tests.api.conftest import PASSWORD, AppFactory, Session, token_of

PAGES = ["/runs", "/api/runs", "/schedules", "/drift", "/models", "/runs/x/validation",
         "/runs/x/evaluation", "/runs/x", "/artifacts?path=."]
ACTIONS = {
    "/runs/trigger": {"data_source": ""},
    "/schedules/nightly/pause": {},
    "/schedules/nightly/resume": {},
    "/models/promote": {"version": "1", "alias": "production", "reason": "r", "confirm": "yes"},
    "/models/rollback": {"alias": "production", "reason": "r", "confirm": "yes"},
}


@pytest.fixture()
def client(client_for: AppFactory, empty_config: PlatformConfig) -> TestClient:
    return client_for(empty_config)


def test_password_hashes_verify_and_users_parse() -> None:
    encoded = hash_password("s3cret", iterations=1000)
    assert verify_password("s3cret", encoded) and not verify_password("wrong", encoded)
    assert not verify_password("s3cret", "plain-text")
    users = parse_users(f"alice:operator:{encoded};bob:viewer:{encoded}")
    assert users["alice"].is_operator and not users["bob"].is_operator


@pytest.mark.parametrize("text", ["", "   ", "alice:admin:pbkdf2_sha256$1$a$b",
                                  "alice:operator:plaintext", "alice:operator"])
def test_bad_or_missing_users_are_refused(text: str) -> None:
    with pytest.raises(UsersError):
        parse_users(text)


def test_app_refuses_to_start_without_users(empty_config: PlatformConfig) -> None:
    from mlops.dashboard.app import create_app

    with pytest.raises(UsersError):
        create_app(empty_config, {})


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_sign_in_when_signed_out(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    if path.startswith("/api/"):
        assert response.status_code == 401
    else:
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")


@pytest.mark.parametrize("path", list(ACTIONS))
def test_actions_answer_401_when_signed_out(client: TestClient, path: str) -> None:
    session = Session(client)
    session.token = "anything"
    response = session.post(path, ACTIONS[path])
    assert response.status_code == 401


@pytest.mark.parametrize("path", list(ACTIONS))
def test_actions_answer_403_for_viewers(client: TestClient, path: str) -> None:
    viewer = Session(client).sign_in("bob")
    response = viewer.post(path, ACTIONS[path])
    assert response.status_code == 403
    assert "only operators" in response.text


@pytest.mark.parametrize("path", [*ACTIONS, "/logout"])
@pytest.mark.parametrize("token", ["", "forged-token"])
def test_actions_reject_missing_or_wrong_csrf_token(client: TestClient, path: str,
                                                    token: str) -> None:
    operator = Session(client).sign_in("alice")
    response = operator.post(path, ACTIONS.get(path, {}), token=token)
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_sign_in_rejects_wrong_password_and_needs_csrf(client: TestClient) -> None:
    session = Session(client)
    good = token_of(client.get("/login").text)
    wrong = client.post("/login", data={"username": "alice", "password": "nope",
                                        "csrf_token": good})
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    unknown = client.post("/login", data={"username": "mallory", "password": PASSWORD,
                                          "csrf_token": good})
    assert unknown.status_code == 401
    no_token = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert no_token.status_code == 403
    assert client.get("/runs", follow_redirects=False).status_code == 303
    session.sign_in("alice")
    assert client.get("/runs").status_code == 200


def test_sign_in_redirect_stays_on_this_site(client: TestClient) -> None:
    token = token_of(client.get("/login").text)
    response = client.post("/login", data={"username": "alice", "password": PASSWORD,
                                           "csrf_token": token, "next": "//evil.example/x"},
                           follow_redirects=False)
    assert response.headers["location"] == "/runs"


def test_sign_out_ends_the_session(client: TestClient) -> None:
    session = Session(client).sign_in("alice")
    assert session.post("/logout").status_code == 303
    assert client.get("/runs", follow_redirects=False).status_code == 303


def test_empty_workspace_pages_show_hints(client: TestClient) -> None:
    Session(client).sign_in("bob")
    runs = client.get("/runs")
    assert runs.status_code == 200 and "No runs yet" in runs.text
    assert "Start pipeline run" not in runs.text  # viewers get no trigger button
    assert client.get("/api/runs").json() == {"in_progress": None, "runs": []}
    schedules = client.get("/schedules").text
    assert "0 3 * * *" in schedules and "UTC" in schedules  # the configured schedule
    assert "no drift reports yet: run `mlops drift check`" in client.get("/drift").text
    assert "no registered models yet" in client.get("/models").text
    assert client.get("/runs/nope").status_code == 404
    assert client.get("/runs/..%2F..%2Fetc/validation").status_code == 404


def test_security_headers_on_every_page(client: TestClient) -> None:
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_static_assets_are_local(client: TestClient) -> None:
    page = client.get("/login").text
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    assert "window.location.reload" in client.get("/static/app.js").text
    assert client.get("/static/style.css").status_code == 200


def test_trigger_refused_while_a_run_holds_the_lock(client: TestClient,
                                                    empty_config: PlatformConfig) -> None:
    operator = Session(client).sign_in("alice")
    with run_lock(empty_config.workspace, "20260101T000000Z-held", "test"):
        response = operator.post("/runs/trigger", {"data_source": ""})
        assert response.status_code == 303
        page = client.get("/runs").text
    assert "Not started: a pipeline run is in progress (run 20260101T000000Z-held" in page
    assert not list((empty_config.workspace / "logs").glob("trigger-*"))


def test_trigger_refuses_a_data_path_with_no_files(client: TestClient, tmp_path: Path) -> None:
    operator = Session(client).sign_in("alice")
    operator.post("/runs/trigger", {"data_source": str(tmp_path / "nothing-here")})
    assert "Not started: no data files at" in client.get("/runs").text


def test_pause_and_resume_the_schedule(client: TestClient, empty_config: PlatformConfig) -> None:
    from mlops.scheduler import pause_state

    operator = Session(client).sign_in("alice")
    operator.post("/schedules/nightly/pause")
    assert "no schedule named" in client.get("/schedules").text
    name = empty_config.pipeline.name
    operator.post(f"/schedules/{name}/pause")
    assert f"schedule &#39;{name}&#39; paused" in client.get("/schedules").text
    state = pause_state(empty_config.workspace)
    assert state is not None and state["by"] == "alice"
    operator.post(f"/schedules/{name}/resume")
    assert pause_state(empty_config.workspace) is None


def test_operator_actions_on_missing_sources_explain_what_to_do(client: TestClient) -> None:
    operator = Session(client).sign_in("alice")
    operator.post("/models/promote", ACTIONS["/models/promote"])
    assert "Not promoted: no registered models yet" in client.get("/models").text
    operator.post("/models/promote", {**ACTIONS["/models/promote"], "confirm": ""})
    assert "tick the confirmation and give a reason" in client.get("/models").text
    operator.post("/models/rollback", ACTIONS["/models/rollback"])
    assert "Not rolled back: no registered models yet" in client.get("/models").text


@pytest.mark.parametrize("path", ["../", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd",
                                  "pipelines/../../outside.txt", "link-out"])
def test_artifact_paths_outside_the_workspace_are_refused(
        client: TestClient, empty_config: PlatformConfig, tmp_path: Path, path: str) -> None:
    workspace = empty_config.workspace
    workspace.mkdir(parents=True, exist_ok=True)
    (tmp_path / "outside.txt").write_text("secret")
    (workspace / "link-out").symlink_to(tmp_path / "outside.txt")
    Session(client).sign_in("bob")
    response = client.get("/artifacts", params={"path": path})
    assert response.status_code == 404
    assert "secret" not in response.text and "root:" not in response.text


def test_artifact_files_inside_the_workspace_are_served(
        client: TestClient, empty_config: PlatformConfig) -> None:
    folder = empty_config.workspace / "pipelines" / "x"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("hello artifact")
    (folder / "page.html").write_text("<script>alert(1)</script>")
    Session(client).sign_in("bob")
    listing = client.get("/artifacts", params={"path": str(folder)})
    assert listing.status_code == 200 and "notes.txt" in listing.text
    assert client.get("/artifacts", params={"path": "pipelines/x/notes.txt"}).text == \
        "hello artifact"
    html = client.get("/artifacts", params={"path": "pipelines/x/page.html"})
    assert html.headers["content-type"].startswith("text/plain")


def test_internal_errors_show_a_generic_page_without_a_traceback(
        client: TestClient, empty_config: PlatformConfig,
        caplog: pytest.LogCaptureFixture) -> None:
    Session(client).sign_in("bob")
    empty_config.metadata_path.parent.mkdir(parents=True, exist_ok=True)
    empty_config.metadata_path.write_bytes(b"this is not a SQLite database" * 100)
    with caplog.at_level("ERROR", logger="mlops.dashboard"):
        response = client.get("/runs")
    assert response.status_code == 500
    assert "internal error" in response.text
    assert "Traceback" not in response.text and "sqlite" not in response.text.lower()
    assert any("dashboard error on GET /runs" in r.message for r in caplog.records)
    assert any(r.exc_info for r in caplog.records)
