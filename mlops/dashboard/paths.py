"""Paths that arrive in requests are only honoured inside the workspace.

Artifact URIs recorded in ML Metadata live under the workspace's pipeline root; anything a
request names is resolved (symlinks and ``..`` included) and refused unless it stays inside.
"""

from __future__ import annotations

from pathlib import Path


class PathRefused(ValueError):
    """The requested path is outside the workspace or does not exist."""


def inside_workspace(workspace: Path, requested: str) -> Path:
    """The resolved path if it is inside ``workspace``; relative paths are workspace-relative."""
    if not requested or "\x00" in requested:
        raise PathRefused("no path given")
    root = workspace.resolve()
    candidate = Path(requested)
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if resolved != root and not resolved.is_relative_to(root):
        raise PathRefused(f"'{requested}' is outside the workspace")
    if not resolved.exists():
        raise PathRefused(f"'{requested}' does not exist")
    return resolved
