"""Dashboard API fixtures: an app on a workspace, users of both roles, signed-in clients."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlops.dashboard.app import create_app
from mlops.dashboard.auth import Role, User, hash_password
from pipelines.config import PlatformConfig
from tests.conftest import make_config

PASSWORD = "correct horse battery staple"
# Few PBKDF2 rounds keep the tests fast; the format and the check are the real ones.
USERS = {
    "alice": User("alice", Role.OPERATOR, hash_password(PASSWORD, iterations=1000)),
    "bob": User("bob", Role.VIEWER, hash_password(PASSWORD, iterations=1000)),
}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def token_of(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


class Session:
    """A TestClient with the CSRF token of its session at hand."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.token = ""

    def sign_in(self, name: str, password: str = PASSWORD) -> Session:
        self.token = token_of(self.client.get("/login").text)
        response = self.client.post("/login", data={
            "username": name, "password": password, "csrf_token": self.token, "next": "/runs"},
            follow_redirects=False)
        assert response.status_code == 303, response.text
        self.token = token_of(self.client.get("/runs").text)
        return self

    def post(self, path: str, data: dict[str, str] | None = None, token: str | None = None):
        form = {"csrf_token": self.token if token is None else token, **(data or {})}
        return self.client.post(path, data=form, follow_redirects=False)


AppFactory = Callable[[PlatformConfig], TestClient]


@pytest.fixture()
def client_for() -> AppFactory:
    def build(config: PlatformConfig) -> TestClient:
        return TestClient(create_app(config, USERS, "test-secret"),
                          raise_server_exceptions=False)
    return build


@pytest.fixture()
def empty_config(tmp_path: Path, sample_csv: Path) -> PlatformConfig:
    return make_config(tmp_path / "workspace", sample_csv.parent)
