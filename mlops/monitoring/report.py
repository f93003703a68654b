"""Drift reports: JSON for machines, one self-contained HTML page for people.

Saved under ``<workspace>/drift/reports/<check id>.{json,html}``. The HTML has no external
resource (inline SVG, inline CSS) so it opens offline and can be attached or archived as one
file. The dashboard reads reports with :func:`list_reports` and :func:`load_report`.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPORTS_DIR = ("drift", "reports")
_BASE_COLOR, _NEW_COLOR = "#4c78a8", "#f58518"


@dataclass(frozen=True)
class ReportSummary:
    check_id: str
    created: float
    drifted: bool
    drifted_features: list[str]
    decision: str | None
    json_path: Path
    html_path: Path


def reports_dir(workspace: Path) -> Path:
    return workspace.joinpath(*REPORTS_DIR)


def save_report(workspace: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``report`` as JSON and HTML (atomically: never a half-written file)."""
    directory = reports_dir(workspace)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{report['check_id']}.json"
    html_path = json_path.with_suffix(".html")
    for path, text in ((json_path, json.dumps(report, indent=2)),
                       (html_path, render_html(report))):
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    return json_path, html_path


def load_report(path: str | Path) -> dict[str, Any]:
    """One report (the JSON file; an .html path is accepted too)."""
    return json.loads(Path(path).with_suffix(".json").read_text(encoding="utf-8"))


def list_reports(workspace: Path) -> list[ReportSummary]:
    """All reports of a workspace, newest first."""
    directory = reports_dir(workspace)
    if not directory.exists():
        return []
    summaries = []
    for path in directory.glob("*.json"):
        report = load_report(path)
        summaries.append(ReportSummary(
            check_id=report["check_id"], created=report["created"],
            drifted=report["summary"]["drifted"],
            drifted_features=report["summary"]["drifted_features"],
            decision=(report.get("decision") or {}).get("decision"),
            json_path=path, html_path=path.with_suffix(".html"),
        ))
    return sorted(summaries, key=lambda s: (s.created, s.check_id), reverse=True)


# ----- HTML ---------------------------------------------------------------------------------
def render_html(report: dict[str, Any]) -> str:
    escape = html.escape
    summary = report["summary"]
    verdict = ("DRIFT in " + ", ".join(summary["drifted_features"])) if summary["drifted"] \
        else "No drift"
    decision = report.get("decision") or {}
    rows = "\n".join(_feature_row(feature) for feature in report["features"])
    lineage = report.get("baseline", {})
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Drift report {escape(report['check_id'])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:24px;color:#222}}
table{{border-collapse:collapse;width:100%}} td,th{{border-bottom:1px solid #ddd;padding:6px;
text-align:left;vertical-align:middle}} .drift{{background:#fde8e8}} .ok{{color:#2a7a2a}}
.bad{{color:#b00020;font-weight:bold}} code{{background:#f4f4f4;padding:1px 4px}}
.legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}}
</style></head><body>
<h1>Drift report <code>{escape(report['check_id'])}</code></h1>
<p class="{'bad' if summary['drifted'] else 'ok'}">{escape(verdict)}</p>
<p>New data: {escape(', '.join(report['source']))} ({report.get('rows', 0):,} rows)<br>
Baseline: training statistics of the serving model (pushed model
<code>{escape(str(lineage.get('pushed_model_uri', '')))}</code>, training run(s)
{escape(', '.join(lineage.get('training_run_ids', [])))}, statistics
<code>{escape(str(lineage.get('statistics_uri', '')))}</code>)<br>
Decision: <b>{escape(str(decision.get('decision', '-')))}</b>
{escape(str(decision.get('reason', '')))}
{('run <code>' + escape(str(decision['run_id'])) + '</code>') if decision.get('run_id') else ''}
</p>
<p class="legend"><span style="background:{_BASE_COLOR}"></span>training (baseline)
<span style="background:{_NEW_COLOR}"></span>new data</p>
<table><tr><th>feature</th><th>comparator</th><th>distance vs threshold</th><th>verdict</th>
<th>distributions</th></tr>
{rows}
</table></body></html>
"""


def _feature_row(feature: dict[str, Any]) -> str:
    escape = html.escape
    drifted = feature["drifted"]
    return (
        f"<tr class=\"{'drift' if drifted else ''}\"><td><b>{escape(feature['name'])}</b><br>"
        f"{escape(feature['kind'])}</td><td>{escape(feature['comparator'])}</td>"
        f"<td>{_distance_bar(feature['distance'], feature['threshold'])}"
        f"<br>{feature['distance']:.4f} / {feature['threshold']:g}</td>"
        f"<td class=\"{'bad' if drifted else 'ok'}\">{'drifted' if drifted else 'ok'}</td>"
        f"<td>{_overlay(feature)}</td></tr>"
    )


def _distance_bar(distance: float, threshold: float, width: int = 140) -> str:
    scale = max(distance, threshold) * 1.25 or 1.0
    filled = width * distance / scale
    mark = width * threshold / scale
    color = "#b00020" if distance > threshold else "#2a7a2a"
    return (f'<svg width="{width}" height="16" role="img" aria-label="distance">'
            f'<rect width="{width}" height="16" fill="#eee"/>'
            f'<rect width="{filled:.1f}" height="16" fill="{color}"/>'
            f'<line x1="{mark:.1f}" x2="{mark:.1f}" y1="0" y2="16" stroke="#000" '
            f'stroke-width="2"/></svg>')


def _overlay(feature: dict[str, Any], width: int = 300, height: int = 90) -> str:
    """Both distributions as paired bars per bucket / category (shares of rows)."""
    base, new = feature.get("baseline") or {}, feature.get("current") or {}
    if "labels" in base:
        labels = [str(label) for label in base["labels"]]
        pairs = list(zip(base["shares"], new.get("shares", [0.0] * len(labels)), strict=False))
    elif "edges" in base:
        labels, pairs = _numeric_pairs(base, new)
    else:
        return ""
    if not pairs:
        return ""
    top = max(max(pair) for pair in pairs) or 1.0
    slot = width / len(pairs)
    bars = []
    for index, (left, right) in enumerate(pairs):
        x = index * slot
        for offset, share, color in ((0.1, left, _BASE_COLOR), (0.5, right, _NEW_COLOR)):
            bar = (height - 14) * share / top
            bars.append(f'<rect x="{x + offset * slot:.1f}" y="{height - 14 - bar:.1f}" '
                        f'width="{slot * 0.4:.1f}" height="{bar:.1f}" fill="{color}">'
                        f'<title>{html.escape(labels[index])}: {share:.3f}</title></rect>')
    first, last = html.escape(labels[0][:18]), html.escape(labels[-1][:18])
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="distributions">'
            + "".join(bars)
            + f'<text x="0" y="{height - 2}" font-size="10">{first}</text>'
            + f'<text x="{width}" y="{height - 2}" font-size="10" text-anchor="end">{last}'
            + "</text></svg>")


def _numeric_pairs(base: dict[str, list], new: dict[str, list]
                   ) -> tuple[list[str], list[tuple[float, float]]]:
    """Align on the new side's buckets (the baseline's edges plus any under/overflow)."""
    base_shares = {tuple(edge): share for edge, share in zip(base["edges"], base["shares"],
                                                             strict=True)}
    edges = [tuple(edge) for edge in new.get("edges", base["edges"])]
    shares = new.get("shares", [0.0] * len(edges))
    labels = [f"{low:.4g}..{high:.4g}" for low, high in edges]
    return labels, [(base_shares.get(edge, 0.0), share)
                    for edge, share in zip(edges, shares, strict=True)]
