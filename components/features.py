"""The feature spec shared by Transform, Trainer, the model and the serving signatures.

It is derived from the validated config and travels to the components as ``custom_config``
(plain JSON), so the code running inside a TFX executor -- locally or in a Kubeflow pod -- sees
exactly the features the pipeline was built with, without reading the YAML again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from pipelines.config import (
    BucketizedFeature,
    CategoricalFeature,
    Feature,
    LabelSection,
    NumericFeature,
    PlatformConfig,
    TrainerSection,
)

TRANSFORMED_SUFFIX = "_xf"
_FEATURE_LIST = TypeAdapter(list[Feature])


def transformed_name(key: str) -> str:
    """Name of a feature after Transform (``fare`` -> ``fare_xf``)."""
    return f"{key}{TRANSFORMED_SUFFIX}"


@dataclass(frozen=True)
class FeatureSpec:
    """Features and label; the single owner of feature keys in the components."""

    features: tuple[NumericFeature | BucketizedFeature | CategoricalFeature, ...]
    label: LabelSection

    @classmethod
    def from_config(cls, config: PlatformConfig) -> FeatureSpec:
        return cls(tuple(config.features), config.label)

    @classmethod
    def from_custom_config(cls, custom_config: dict[str, Any]) -> FeatureSpec:
        return cls(
            tuple(_FEATURE_LIST.validate_python(custom_config["features"])),
            LabelSection.model_validate(custom_config["label"]),
        )

    def to_custom_config(self) -> dict[str, Any]:
        return {
            "features": [f.model_dump() for f in self.features],
            "label": self.label.model_dump(),
        }

    @property
    def label_key(self) -> str:
        """The transformed label the model trains on and TFMA evaluates."""
        return transformed_name(self.label.name)

    @property
    def numeric(self) -> list[NumericFeature]:
        return [f for f in self.features if isinstance(f, NumericFeature)]

    @property
    def categorical(self) -> list[CategoricalFeature | BucketizedFeature]:
        """Features that reach the model as integer ids (vocabulary or bucket index)."""
        return [f for f in self.features if not isinstance(f, NumericFeature)]

    def label_inputs(self) -> list[str]:
        """Raw columns needed only to compute the label (absent at serving time)."""
        names = {f.name for f in self.features}
        return [c for c in (self.label.source, self.label.denominator) if c and c not in names]


def trainer_custom_config(config: PlatformConfig) -> dict[str, Any]:
    """Everything run_fn needs: the feature spec plus trainer settings."""
    return {
        **FeatureSpec.from_config(config).to_custom_config(),
        "trainer": config.trainer.model_dump(),
    }


def trainer_settings(custom_config: dict[str, Any]) -> TrainerSection:
    return TrainerSection.model_validate(custom_config["trainer"])
