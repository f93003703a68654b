"""Data spans: which folders (or files) of data.source a run reads, and which ones it did read.

Scheduled retraining should train on fresh data. Data lands as spans under data.source, named
with TFX's placeholders (``{SPAN}`` or ``{YYYY}``/``{MM}``/``{DD}``), and ``data.spans.window``
chooses the latest span, the last N spans or all of them. The selection is made when a run is
built, so each scheduled run re-reads the disk and a newly landed span changes what it reads.

Why the runner selects the spans instead of ExampleGen: TFX 1.16's ExampleGen ingests exactly
one span per execution (RangeConfig.rolling_range must have num_spans=1). So a single span is
handed to ExampleGen natively (pattern with the placeholder + a static RangeConfig, and
ExampleGen records the ``span`` property itself); several spans are handed over as one file
pattern that matches exactly those spans, and the run stamps the span names on its Examples
artifact in ML Metadata (:func:`record_spans`), where :func:`spans_of_run` reads them back.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import re
from dataclasses import dataclass
from typing import Any

from pipelines.config import SpanSection
from pipelines.preflight import InputDataError

SPAN_REGEX = re.compile(r"\{SPAN(?::(\d+))?\}")
DATE_TOKENS = {"{YYYY}": (r"(?P<year>\d{4})", 4), "{MM}": (r"(?P<month>\d{2})", 2),
               "{DD}": (r"(?P<day>\d{2})", 2)}
SPANS_PROPERTY = "spans"
EPOCH = dt.date(1970, 1, 1)


class SpanError(InputDataError):
    """Spans cannot be selected; the message names data.spans / data.source and what to do.

    An input-data error, so ``mlops run`` reports it like any bad input (exit code 5)."""


@dataclass(frozen=True)
class Span:
    number: int  # TFX's span number: the {SPAN} value, or days since 1970-01-01 for dates
    name: str  # what people see: '3' or '2026-11-21'
    files: tuple[str, ...]


@dataclass(frozen=True)
class SpanSelection:
    """What one run reads: the spans, and how ExampleGen is told (pattern + range config)."""

    spans: tuple[Span, ...]
    input_pattern: str
    static_span: int | None  # set when ExampleGen resolves the span itself (one span)
    file_glob: str  # the files read, as a glob relative to the root (input-data checks)

    @property
    def names(self) -> list[str]:
        return [span.name for span in self.spans]

    def range_config(self) -> Any:
        """TFX RangeConfig pinning ExampleGen to the selected span (None for several)."""
        if self.static_span is None:
            return None
        from tfx.proto import range_config_pb2

        return range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(
            start_span_number=self.static_span, end_span_number=self.static_span))


def is_date_pattern(pattern: str) -> bool:
    return "{YYYY}" in pattern


def span_number_of_date(year: int, month: int, day: int) -> int:
    """TFX's span number of a dated folder: days since 1970-01-01."""
    return (dt.date(year, month, day) - EPOCH).days


def span_name(number: int, pattern: str) -> str:
    """The human name of a span number ('2026-11-21' for date patterns)."""
    if is_date_pattern(pattern):
        return (EPOCH + dt.timedelta(days=number)).isoformat()
    return str(number)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Regex over paths relative to the root: placeholders capture, glob wildcards match."""
    out, index = [], 0
    tokens = re.compile(r"\{SPAN(?::\d+)?\}|\{YYYY\}|\{MM\}|\{DD\}|\*\*|\*|\?|\[[^\]]*\]")
    for match in tokens.finditer(pattern):
        out.append(re.escape(pattern[index:match.start()]))
        token = match.group(0)
        if token.startswith("{SPAN"):
            width = SPAN_REGEX.fullmatch(token).group(1)  # type: ignore[union-attr]
            out.append(rf"(?P<span>\d{{{width}}})" if width else r"(?P<span>\d+)")
        elif token in DATE_TOKENS:
            out.append(DATE_TOKENS[token][0])
        elif token == "**":
            out.append(r".*")
        elif token == "*":
            out.append(r"[^/]*")
        elif token == "?":
            out.append(r"[^/]")
        else:
            out.append(token.replace("[!", "[^"))
        index = match.end()
    out.append(re.escape(pattern[index:]))
    return re.compile("".join(out) + r"\Z")


def as_glob(pattern: str) -> str:
    """The pattern with its placeholders as wildcards: every span (window 'all')."""
    pattern = SPAN_REGEX.sub("*", pattern)
    for token in DATE_TOKENS:
        pattern = pattern.replace(token, "[0-9]" * DATE_TOKENS[token][1])
    return pattern


def list_spans(root: str, pattern: str) -> list[Span]:
    """Every span under ``root`` matching ``pattern``, oldest first, with its files."""
    regex = _pattern_regex(pattern)
    found: dict[int, list[str]] = {}
    for path in glob.glob(os.path.join(root, as_glob(pattern))):
        if not os.path.isfile(path):
            continue
        match = regex.match(os.path.relpath(path, root).replace(os.sep, "/"))
        if match is None:
            continue
        groups = match.groupdict()
        if "span" in groups:
            number = int(groups["span"])
        else:
            try:
                number = span_number_of_date(int(groups["year"]), int(groups["month"]),
                                             int(groups["day"]))
            except ValueError:
                continue  # not a real date, e.g. 2026-02-30
        found.setdefault(number, []).append(path)
    return [Span(n, span_name(n, pattern), tuple(sorted(found[n]))) for n in sorted(found)]


def _rendered(span: Span, pattern: str) -> str:
    """The pattern with the placeholders replaced by this span's value."""
    if is_date_pattern(pattern):
        year, month, day = span.name.split("-")
        return pattern.replace("{YYYY}", year).replace("{MM}", month).replace("{DD}", day)
    match = SPAN_REGEX.search(pattern)
    width = int(match.group(1)) if match and match.group(1) else 0
    return SPAN_REGEX.sub(str(span.number).zfill(width), pattern)


def _exact_glob(chosen: list[Span], available: list[Span], pattern: str, root: str) -> str:
    """One glob matching the files of exactly ``chosen``, built position by position."""
    rendered = [_rendered(span, pattern) for span in chosen]
    if len({len(text) for text in rendered}) == 1:
        positions = []
        for characters in zip(*rendered, strict=True):
            unique = sorted(set(characters))
            positions.append(unique[0] if len(unique) == 1 else f"[{''.join(unique)}]")
        candidate = "".join(positions)
        wanted = {f for span in chosen for f in span.files}
        every = {f for span in available for f in span.files}
        matched = {p for p in glob.glob(os.path.join(root, candidate)) if p in every}
        if matched == wanted:
            return candidate
    raise SpanError(
        f"data.spans: the spans {', '.join(s.name for s in chosen)} under {root} cannot be "
        "read through one file pattern (ExampleGen takes one pattern per run). Zero-pad span "
        "numbers (e.g. {SPAN:4}), or use data.spans.window 'latest' or 'all'."
    )


def select_spans(root: str, spans: SpanSection) -> SpanSelection:
    """The spans this run reads under ``root``, per data.spans.window."""
    available = list_spans(root, spans.pattern)
    if not available:
        raise SpanError(
            f"data.spans.pattern '{spans.pattern}': no span found under {root} (data.source). "
            "Check the pattern, e.g. '{YYYY}-{MM}-{DD}/*.csv' for folders like 2026-11-21/."
        )
    if spans.window == "latest":
        chosen = available[-1:]
    elif spans.window == "last_n":
        chosen = available[-spans.count:]
    else:
        chosen = available
    if len(chosen) == 1:
        return SpanSelection(tuple(chosen), spans.pattern, chosen[0].number,
                             _rendered(chosen[0], spans.pattern))
    pattern = (as_glob(spans.pattern) if spans.window == "all"
               else _exact_glob(chosen, available, spans.pattern, root))
    return SpanSelection(tuple(chosen), pattern, None, pattern)


def next_span_files(root: str, pattern: str, count: int, stem: str,
                    today: dt.date | None = None) -> tuple[str, list[str]]:
    """(span name, ``count`` new file paths) for data landing as the next span under ``root``.

    The next span is the last span's number + 1, or for dated patterns today's folder (the day
    after the last span when that is later, so a new span never merges into an existing one).
    Wildcards in the pattern become ``stem`` plus an index, and each path is checked to match
    the pattern, so the span selection of the next run finds exactly these files.
    """
    available = list_spans(root, pattern)
    if is_date_pattern(pattern):
        number = span_number_of_date(*(today or dt.date.today()).timetuple()[:3])
        if available:
            number = max(number, available[-1].number + 1)
    else:
        number = available[-1].number + 1 if available else 0
    span = Span(number, span_name(number, pattern), ())
    rendered = _rendered(span, pattern)
    regex = _pattern_regex(pattern)
    paths = []
    for index in range(count):
        relative = re.sub(r"\*\*|\*|\?|\[[^\]]*\]", f"{stem}-{index:04d}", rendered)
        if regex.match(relative) is None or (relative == rendered and count > 1):
            raise SpanError(
                f"data.spans.pattern '{pattern}': cannot name {count} new file(s) of span "
                f"{span.name} so that the pattern matches them; end the pattern with a "
                "wildcard file name, e.g. 'span-{SPAN}/*.csv'."
            )
        paths.append(os.path.join(root, relative))
    return span.name, paths


def record_spans(store: Any, examples_artifact_id: int, selection: SpanSelection) -> None:
    """Stamp the span names on the run's Examples artifact in ML Metadata."""
    artifact = store.get_artifacts_by_id([examples_artifact_id])[0]
    artifact.custom_properties[SPANS_PROPERTY].string_value = ",".join(selection.names)
    store.put_artifacts([artifact])


def spans_of_run(reader: Any, pipeline_name: str, run_id: str,
                 pattern: str | None = None) -> list[str]:
    """The spans a run read, from ML Metadata ([] when the run had no spans or no ExampleGen).

    Reads the names stamped by :func:`record_spans`, else ExampleGen's own ``span`` property
    (Kubeflow runs, where the ExampleGen driver resolves the span), named per ``pattern``.
    """
    run = reader.pipeline_run(pipeline_name, run_id)
    node = run.nodes.get("ExampleGen") if run else None
    examples = node.output("examples") if node else None
    if examples is None:
        return []
    stamped = examples.properties.get(SPANS_PROPERTY)
    if stamped:
        return str(stamped).split(",")
    if pattern is None:
        return []
    return [span_name(int(examples.properties.get("span", 0) or 0), pattern)]
