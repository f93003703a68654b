"""The training input pipeline over Transform's gzipped TFRecords.

Why this shape: reading is parallel over files (interleave), records are batched *before* they
are parsed so ``tf.io.parse_example`` works on whole batches (far cheaper than per record), and
prefetch overlaps input with training. ``bench/input_efficiency.py`` measures it against
in-memory tensors.

Multi-worker sharding (each input pipeline must see a disjoint part, together all of it):
- at least as many files as pipelines: each pipeline reads every n-th *file* of the sorted
  list (no worker reads another's bytes);
- fewer files than pipelines: every pipeline reads all files in the same deterministic order
  and keeps every n-th *record*.
Shuffling happens only after the split, so differently seeded workers cannot disagree about
who owns which example.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
FeatureSpecDict = dict[str, tf.io.FixedLenFeature | tf.io.VarLenFeature]


def expand_files(file_patterns: Sequence[str] | str) -> list[str]:
    """The sorted files behind the patterns; an error naming the patterns when there are none."""
    patterns = [file_patterns] if isinstance(file_patterns, str) else list(file_patterns)
    files = sorted({f for pattern in patterns for f in tf.io.gfile.glob(pattern)})
    if not files:
        raise FileNotFoundError(
            f"no training files match {patterns}; check that Transform produced "
            "transformed_examples for this split"
        )
    return files


def shard_plan(num_files: int, num_pipelines: int) -> str:
    """'none', 'file' or 'record': how the input is split between input pipelines."""
    if num_pipelines <= 1:
        return "none"
    return "file" if num_files >= num_pipelines else "record"


def make_dataset(
    file_patterns: Sequence[str] | str,
    feature_spec: FeatureSpecDict,
    label_key: str,
    batch_size: int,
    *,
    shuffle: bool = True,
    repeat: bool = True,
    seed: int | None = None,
    cache: bool = False,
    shuffle_buffer: int | None = None,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """(features, label) batches of ``batch_size``; features are [batch, 1] tensors keyed by
    transformed name. With an ``input_context`` this is one input pipeline's share (see the
    module docstring); ``batch_size`` is then the per-replica batch.
    """
    files = expand_files(file_patterns)
    pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    plan = shard_plan(len(files), pipelines)
    if plan == "file":
        files = files[pipeline_id::pipelines]
    file_names = tf.data.Dataset.from_tensor_slices(files)
    if shuffle and plan != "record":
        file_names = file_names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    records = file_names.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type="GZIP"),
        cycle_length=min(len(files), 8),
        num_parallel_calls=AUTOTUNE,
        # Record sharding needs the same order on every worker; otherwise speed wins.
        deterministic=plan == "record" or not shuffle,
    )
    if plan == "record":
        records = records.shard(pipelines, pipeline_id)
    if cache:
        records = records.cache()
    if repeat:
        # Before shuffle: the buffer then never drains and refills at the end of each pass
        # over the data, which would stall training once per pass.
        records = records.repeat()
    if shuffle:
        records = records.shuffle(shuffle_buffer or max(10 * batch_size, 1024), seed=seed)
    batches = records.batch(batch_size, drop_remainder=repeat)

    def parse(serialized: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        features = tf.io.parse_example(serialized, feature_spec)
        label = features.pop(label_key)
        return {name: _as_column(value) for name, value in features.items()}, label

    dataset = batches.map(parse, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
    options = tf.data.Options()
    # The split above is the sharding; tf.distribute must not shard a second time.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


def _as_column(value: tf.Tensor) -> tf.Tensor:
    """Model inputs are [batch, 1]; Transform outputs scalars per example."""
    return tf.expand_dims(value, -1) if value.shape.rank == 1 else value
