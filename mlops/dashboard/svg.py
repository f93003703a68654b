"""Pictures drawn server-side as inline SVG: the component graph and histograms.

Server-side SVG needs no JavaScript library and no network, prints, and is testable as
markup. Every text goes through ``escape``; no inline styles (the CSP forbids them), only
classes that static/style.css colours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 184, 44, 34, 18, 10


def layers(nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering: a node sits one column right of its furthest upstream node."""
    upstream: dict[str, set[str]] = {n: set() for n in nodes}
    for source, target in edges:
        if source in upstream and target in upstream:
            upstream[target].add(source)
    depth: dict[str, int] = {}

    def visit(node: str, trail: frozenset[str]) -> int:
        if node in depth:
            return depth[node]
        parents = [p for p in upstream[node] if p not in trail]
        depth[node] = 1 + max((visit(p, trail | {node}) for p in parents), default=-1)
        return depth[node]

    for node in nodes:
        visit(node, frozenset())
    return depth


def component_graph(nodes: Sequence[str], edges: Iterable[tuple[str, str]],
                    states: dict[str, str], details: dict[str, str] | None = None) -> str:
    """The pipeline DAG, one box per component coloured by state, linking to its section."""
    edge_list = [(s, t) for s, t in edges if s in nodes and t in nodes]
    depth = layers(nodes, edge_list)
    columns: dict[int, list[str]] = {}
    for node in nodes:
        columns.setdefault(depth[node], []).append(node)
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in edge_list:
        parents[target].append(source)
    row_of: dict[str, float] = {}
    position: dict[str, tuple[int, int]] = {}
    for column in sorted(columns):
        members = columns[column]
        # barycentre ordering: a node sits near the rows of its parents (fewer crossings)
        members.sort(key=lambda n: (sum(row_of[p] for p in parents[n]) / len(parents[n])
                                    if parents[n] else len(members)))
        for row, node in enumerate(members):
            row_of[node] = row
            position[node] = (PAD + column * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    width = PAD * 2 + (max(columns, default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + max((len(m) for m in columns.values()), default=1) * (NODE_H + GAP_Y)
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="component graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'class="arrowhead"/></marker></defs>',
    ]
    for source, target in edge_list:
        (x1, y1), (x2, y2) = position[source], position[target]
        start_x, start_y = x1 + NODE_W, y1 + NODE_H / 2
        end_x, end_y = x2, y2 + NODE_H / 2
        middle = (start_x + end_x) / 2
        parts.append(f'<path class="edge" d="M {start_x} {start_y} C {middle} {start_y}, '
                     f'{middle} {end_y}, {end_x} {end_y}" marker-end="url(#arrow)"/>')
    for node in nodes:
        x, y = position[node]
        state = states.get(node, "NOT_RUN")
        detail = (details or {}).get(node, state.lower().replace("_", " "))
        name_class = "name long" if len(node) > 20 else "name"
        parts.append(
            f'<a href="#node-{escape(node)}"><g class="node state-{escape(state.lower())}" '
            f'data-node="{escape(node)}" data-state="{escape(state)}">'
            f'<title>{escape(node)}: {escape(detail)}</title>'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
            f'<text x="{x + NODE_W / 2}" y="{y + 18}" text-anchor="middle" class="{name_class}">'
            f'{escape(node)}</text>'
            f'<text x="{x + NODE_W / 2}" y="{y + 34}" text-anchor="middle" class="detail">'
            f'{escape(detail)}</text></g></a>'
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram(buckets: Sequence[tuple[str, float]], horizontal: bool = False,
              width: int = 260, css_class: str = "") -> str:
    """Bars for (label, count) buckets: vertical for numeric ranges, horizontal for values."""
    if not buckets:
        return '<span class="muted">no histogram</span>'
    peak = max(count for _, count in buckets) or 1.0
    if horizontal:
        bar_h, label_w = 14, 110
        height = len(buckets) * (bar_h + 3) + 2
        parts = [f'<svg class="hist {css_class}" xmlns="http://www.w3.org/2000/svg" '
                 f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
        for index, (label, count) in enumerate(buckets):
            y = index * (bar_h + 3) + 1
            length = max(1.0, (width - label_w - 50) * count / peak)
            short = label if len(label) <= 16 else label[:15] + "…"
            parts.append(
                f'<g><title>{escape(label)}: {count:g}</title>'
                f'<text x="{label_w - 4}" y="{y + bar_h - 3}" text-anchor="end" '
                f'class="label">{escape(short)}</text>'
                f'<rect class="bar" x="{label_w}" y="{y}" width="{length:.1f}" '
                f'height="{bar_h}"/><text x="{label_w + length + 3:.1f}" y="{y + bar_h - 3}" '
                f'class="label">{count:g}</text></g>')
        parts.append("</svg>")
        return "".join(parts)
    height, axis = 90, 14
    bar_w = (width - 4) / len(buckets)
    parts = [f'<svg class="hist {css_class}" xmlns="http://www.w3.org/2000/svg" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for index, (label, count) in enumerate(buckets):
        bar_height = (height - axis - 2) * count / peak
        x = 2 + index * bar_w
        parts.append(
            f'<g><title>{escape(label)}: {count:g}</title><rect class="bar" x="{x:.1f}" '
            f'y="{height - axis - bar_height:.1f}" width="{max(bar_w - 1, 1):.1f}" '
            f'height="{bar_height:.1f}"/></g>')
    first, last = buckets[0][0].split("–")[0], buckets[-1][0].split("–")[-1]
    parts.append(f'<text x="2" y="{height - 2}" class="label">{escape(first)}</text>'
                 f'<text x="{width - 2}" y="{height - 2}" text-anchor="end" class="label">'
                 f'{escape(last)}</text></svg>')
    return "".join(parts)


def sparkline(points: Sequence[float], threshold: float | None, width: int = 220,
              height: int = 50) -> str:
    """A feature's drift distance over time with its threshold as a dashed line."""
    if not points:
        return '<span class="muted">no data</span>'
    top = max([*points, threshold or 0.0]) or 1.0
    step = (width - 8) / max(len(points) - 1, 1)

    def y(value: float) -> float:
        return height - 4 - (height - 8) * value / top

    line = " ".join(f"{4 + i * step:.1f},{y(v):.1f}" for i, v in enumerate(points))
    parts = [f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">']
    if threshold is not None:
        parts.append(f'<line class="threshold" x1="0" x2="{width}" y1="{y(threshold):.1f}" '
                     f'y2="{y(threshold):.1f}"/>')
    parts.append(f'<polyline class="series" points="{line}"/>')
    for i, value in enumerate(points):
        over = threshold is not None and value > threshold
        parts.append(f'<circle class="{"over" if over else "dot"}" cx="{4 + i * step:.1f}" '
                     f'cy="{y(value):.1f}" r="2.5"><title>{value:.4g}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)
