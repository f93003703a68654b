"""Dashboard pieces with no server: SVG drawing, the CLI's refusal to start without users."""

from __future__ import annotations

import re

from click.testing import CliRunner

from mlops.cli import main
from mlops.dashboard import svg
from tests.conftest import CONFIG_FILE


def test_graph_layers_follow_dependencies_and_escape_names() -> None:
    edges = [("A", "B"), ("B", "C"), ("A", "C"), ("X<y>", "C")]
    depth = svg.layers(["A", "B", "C", "X<y>"], edges)
    assert depth == {"A": 0, "B": 1, "C": 2, "X<y>": 0}
    drawing = svg.component_graph(["A", "B", "C", "X<y>"], edges,
                                  {"A": "COMPLETE", "B": "FAILED"})
    assert drawing.count('class="edge"') == 4
    assert 'data-node="X&lt;y&gt;"' in drawing and "<y>" not in drawing
    assert re.search(r'class="node state-not_run" data-node="C"', drawing)
    assert re.search(r'class="node state-failed" data-node="B"', drawing)


def test_histogram_bar_heights_are_proportional() -> None:
    drawing = svg.histogram([("0–1", 10.0), ("1–2", 5.0)])
    heights = [float(h) for h in re.findall(r'<rect class="bar"[^>]* height="([\d.]+)"',
                                            drawing)]
    assert len(heights) == 2 and abs(heights[0] - 2 * heights[1]) < 0.2
    labels = svg.histogram([("Cash", 3.0), ("<b>", 1.0)], horizontal=True)
    assert "&lt;b&gt;" in labels and "<b>" not in labels
    assert "no histogram" in svg.histogram([])


def test_sparkline_marks_points_over_the_threshold() -> None:
    drawing = svg.sparkline([0.05, 0.2, 0.4], threshold=0.3)
    assert drawing.count('class="over"') == 1 and 'class="threshold"' in drawing


def test_serve_refuses_to_start_without_users() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["dashboard", "serve", "--config", str(CONFIG_FILE)],
                           env={"MLOPS_DASHBOARD_USERS": ""})
    assert result.exit_code == 2
    assert "no dashboard users configured" in result.output
    assert "mlops dashboard hash-password" in result.output


def test_hash_password_prints_a_verifiable_hash() -> None:
    from mlops.dashboard.auth import verify_password

    result = CliRunner().invoke(main, ["dashboard", "hash-password", "--password-stdin"],
                                input="s3cret\n")
    assert result.exit_code == 0
    digest = result.output.strip().splitlines()[-1]
    assert digest.startswith("pbkdf2_sha256$") and verify_password("s3cret", digest)
