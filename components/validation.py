"""Reading ExampleValidator's anomalies, and the gate that halts a run on them.

TFX's ExampleValidator records anomalies but never stops a pipeline. ``ValidationGate`` sits
between it and Transform: with ``validation.on_anomalies: halt`` it fails the run, naming each
feature and anomaly, so nothing downstream trains or pushes; with ``warn`` it logs and lets the
run go on. The same reader serves the run summary, the dashboard and the notebooks.
"""

import logging
import os
from dataclasses import dataclass

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies

ANOMALIES_FILE = "SchemaDiff.pb"
log = logging.getLogger("mlops.validation")


class ValidationHalted(RuntimeError):
    """Raised by the gate: the data broke the schema and the policy is to halt."""


@dataclass(frozen=True)
class Anomaly:
    split: str
    feature: str
    kind: str
    description: str

    def __str__(self) -> str:
        return f"[{self.split}] {self.feature}: {self.kind} - {self.description}"


def read_anomalies(uri: str, split_names: list[str]) -> list[Anomaly]:
    """All anomalies recorded in an ExampleAnomalies artifact, one entry per feature reason."""
    found: list[Anomaly] = []
    for split in split_names:
        path = os.path.join(uri, f"Split-{split}", ANOMALIES_FILE)
        if not os.path.exists(path):
            continue
        proto = anomalies_pb2.Anomalies()
        with open(path, "rb") as handle:
            proto.ParseFromString(handle.read())
        for feature, info in sorted(proto.anomaly_info.items()):
            reasons = info.reason or [None]
            for reason in reasons:
                kind = anomalies_pb2.AnomalyInfo.Type.Name(reason.type) if reason else "UNKNOWN"
                description = (reason.description if reason else "") or info.description
                found.append(Anomaly(split, feature, kind, description))
        if proto.HasField("dataset_anomaly_info"):
            info = proto.dataset_anomaly_info
            for reason in info.reason:
                found.append(Anomaly(split, "(dataset)",
                                     anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
                                     reason.description or info.description))
    return found


def anomalies_of_artifact(artifact: ExampleAnomalies) -> list[Anomaly]:
    return read_anomalies(artifact.uri, artifact_utils.decode_split_names(artifact.split_names))


# TFX custom component (Python function component), run between ExampleValidator and Transform.
@component
def ValidationGate(
    anomalies: InputArtifact[ExampleAnomalies],
    on_anomalies: Parameter[str],
) -> None:
    """Halts the run when the data has anomalies and the policy says 'halt'."""
    found = anomalies_of_artifact(anomalies)
    if not found:
        log.info("validation: no anomalies")
        return
    listing = "\n".join(f"  - {a}" for a in found)
    if on_anomalies == "halt":
        raise ValidationHalted(
            f"data validation found {len(found)} anomal{'y' if len(found) == 1 else 'ies'} "
            f"(validation.on_anomalies: halt); nothing after validation runs:\n{listing}\n"
            "Fix the data, or update the curated schema if the change is expected."
        )
    log.warning("validation: %d anomalies (on_anomalies: warn), continuing:\n%s",
                len(found), listing)
