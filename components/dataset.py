"""The training input pipeline over Transform's gzipped TFRecords.

Why this shape: reading is parallel over files (interleave), records are batched *before* they
are parsed so ``tf.io.parse_example`` works on whole batches (far cheaper than per record), and
prefetch overlaps input with training. ``bench/input_efficiency.py`` measures it against
in-memory tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def make_dataset(
    file_patterns: Sequence[str] | str,
    feature_spec: dict[str, tf.io.FixedLenFeature | tf.io.VarLenFeature],
    label_key: str,
    batch_size: int,
    *,
    shuffle: bool = True,
    repeat: bool = True,
    seed: int | None = None,
    cache: bool = False,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """(features, label) batches; features are [batch, 1] tensors keyed by transformed name.

    With an ``input_context`` (multi-worker input), each input pipeline keeps every n-th record
    so that no example is read twice or lost whatever the number of files.
    """
    patterns = [file_patterns] if isinstance(file_patterns, str) else list(file_patterns)
    files = tf.data.Dataset.list_files(patterns, shuffle=shuffle, seed=seed)
    records = files.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type="GZIP"),
        cycle_length=4,
        num_parallel_calls=AUTOTUNE,
        deterministic=not shuffle,
    )
    if input_context is not None and input_context.num_input_pipelines > 1:
        records = records.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if cache:
        records = records.cache()
    if shuffle:
        records = records.shuffle(max(10 * batch_size, 1024), seed=seed)
    if repeat:
        records = records.repeat()
    batches = records.batch(batch_size, drop_remainder=repeat)

    def parse(serialized: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        features = tf.io.parse_example(serialized, feature_spec)
        label = features.pop(label_key)
        return {name: _as_column(value) for name, value in features.items()}, label

    return batches.map(parse, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _as_column(value: tf.Tensor) -> tf.Tensor:
    """Model inputs are [batch, 1]; Transform outputs scalars per example."""
    return tf.expand_dims(value, -1) if value.shape.rank == 1 else value
