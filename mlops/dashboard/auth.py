"""Users, roles and password hashes for the dashboard.

Users come from one environment variable (``dashboard.users_env``), as
``name:role:hash;name:role:hash``. Hashes are PBKDF2-SHA256 made by
``mlops dashboard hash-password``; there is no built-in account and no default password, so a
dashboard with no users configured refuses to start instead of opening with a known secret.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 260_000


class Role(enum.Enum):
    """``viewer`` looks; ``operator`` also triggers, pauses/resumes and promotes."""

    VIEWER = "viewer"
    OPERATOR = "operator"


class UsersError(ValueError):
    """The users setting is missing or malformed; the message says how to fix it."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password_hash: str = ""

    @property
    def is_operator(self) -> bool:
        return self.role is Role.OPERATOR


def hash_password(password: str, iterations: int = ITERATIONS, salt: str | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt>$<base64 digest>`` (no ':' or ';', safe in the env)."""
    if not password:
        raise ValueError("the password must not be empty")
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{ALGORITHM}${iterations}${salt}${base64.b64encode(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of a password against a stored hash; malformed hashes never match."""
    try:
        algorithm, iterations, salt, expected = encoded.split("$")
        rounds = int(iterations)
    except ValueError:
        return False
    if algorithm != ALGORITHM or rounds < 1:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), rounds)
    return hmac.compare_digest(base64.b64encode(digest).decode(), expected)


def parse_users(text: str | None, source: str = "MLOPS_DASHBOARD_USERS") -> dict[str, User]:
    """Parse ``name:role:hash;...``; raise UsersError naming the entry and what is wrong."""
    how = (f"set {source}='alice:operator:<hash>;bob:viewer:<hash>' with hashes from "
           "`mlops dashboard hash-password`")
    if not text or not text.strip():
        raise UsersError(f"no dashboard users configured: {how}")
    users: dict[str, User] = {}
    for position, entry in enumerate(e.strip() for e in text.split(";")):
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) != 3 or not all(parts):
            raise UsersError(f"{source}: entry {position + 1} is not 'name:role:hash'; {how}")
        name, role, password_hash = parts
        try:
            parsed_role = Role(role)
        except ValueError:
            raise UsersError(
                f"{source}: user '{name}' has role '{role}'; use 'viewer' or 'operator'"
            ) from None
        if not password_hash.startswith(f"{ALGORITHM}$"):
            raise UsersError(f"{source}: user '{name}' has no {ALGORITHM} hash; {how}")
        if name in users:
            raise UsersError(f"{source}: user '{name}' is listed twice")
        users[name] = User(name, parsed_role, password_hash)
    if not users:
        raise UsersError(f"no dashboard users configured: {how}")
    return users


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    """The user when the password matches; also spends the hashing time for unknown names so
    a response time does not reveal which user names exist."""
    user = users.get(name)
    if user is None:
        verify_password(password, hash_password("timing-equaliser", salt="0" * 32))
        return None
    return user if verify_password(password, user.password_hash) else None
