"""The training input pipeline over Transform's gzipped TFRecords.

Why this shape: reading is parallel over files (interleave, handing records over in blocks;
one file gets one plain reader), records are batched *before* they
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
    records = _read_records(files, shuffle_files=shuffle and plan != "record", seed=seed,
                            deterministic=plan == "record" or not shuffle)
    if plan == "record":
        records = records.shard(pipelines, pipeline_id)
    if cache:
        dataset = _in_memory_batches(records, feature_spec, label_key, batch_size,
                                     shuffle=shuffle, repeat=repeat, seed=seed)
    else:
        if repeat:
            # Before shuffle: the buffer then never drains and refills at the end of each
            # pass over the data, which would stall training once per pass.
            records = records.repeat()
        if shuffle:
            records = records.shuffle(shuffle_buffer or max(10 * batch_size, 1024), seed=seed)
        batches = records.batch(batch_size, drop_remainder=repeat)
        dataset = batches.map(
            lambda serialized: _split_label(
                tf.io.parse_example(serialized, feature_spec), label_key),
            num_parallel_calls=AUTOTUNE,
        )
    dataset = dataset.prefetch(AUTOTUNE)
    options = tf.data.Options()
    # The split above is the sharding; tf.distribute must not shard a second time.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


# Records travel between interleave's reader threads in blocks of this many: handing them
# over one at a time costs more than reading and decompressing them (bench/input_efficiency.py
# measured 135k records/s through a per-record parallel interleave vs 471k from a plain reader).
INTERLEAVE_BLOCK = 64


def _read_records(files: list[str], *, shuffle_files: bool, seed: int | None,
                  deterministic: bool) -> tf.data.Dataset:
    """Serialized records of ``files``: one plain reader for one file, otherwise parallel
    readers over the files whose records are handed over in blocks and unbatched."""
    if len(files) == 1:
        return tf.data.TFRecordDataset(files[0], compression_type="GZIP")
    file_names = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files:
        file_names = file_names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    blocks = file_names.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type="GZIP").batch(
            INTERLEAVE_BLOCK),
        cycle_length=min(len(files), 8),
        num_parallel_calls=AUTOTUNE,
        # Record sharding needs the same order on every worker; otherwise speed wins.
        deterministic=deterministic,
    )
    return blocks.unbatch()


# One batch holding every record of a split (the size limit of a batch, not a real count).
_WHOLE_SPLIT = 2**62


def _in_memory_batches(records: tf.data.Dataset, feature_spec: FeatureSpecDict, label_key: str,
                       batch_size: int, *, shuffle: bool, repeat: bool,
                       seed: int | None) -> tf.data.Dataset:
    """Batches gathered from the whole split parsed once into columns (``trainer.cache_dataset``).

    Why: on a CPU that also trains, per-record work (decompressing, shuffling, parsing) takes
    cores from the model every epoch; parsed once, a batch is one ``gather`` per feature over a
    fresh permutation each pass, so every epoch is still shuffled record by record. For splits
    that fit in memory; the streaming path serves the rest.
    """
    parsed = records.batch(_WHOLE_SPLIT).map(
        lambda serialized: tf.io.parse_example(serialized, feature_spec)).cache()
    if repeat:
        parsed = parsed.repeat()

    def one_pass(columns: dict[str, tf.Tensor]) -> tf.data.Dataset:
        count = tf.shape(columns[label_key], out_type=tf.int64)[0]
        order = tf.random.shuffle(tf.range(count), seed=seed) if shuffle else tf.range(count)
        if repeat:
            # Training batches are all full, like streaming's drop_remainder: the short rest
            # of a pass is dropped, and a pass shorter than one batch is repeated to fill it.
            order = tf.tile(order, [tf.maximum(batch_size // tf.maximum(count, 1) + 1, 1)])
            batches = tf.maximum(count // batch_size, 1)
        else:
            batches = (count + batch_size - 1) // batch_size

        def gather(i: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
            picked = order[i * batch_size:(i + 1) * batch_size]
            if repeat:
                # A static batch size, as drop_remainder gives the streaming path.
                picked = tf.ensure_shape(picked, [batch_size])
            return _split_label(
                {name: tf.gather(values, picked) for name, values in columns.items()},
                label_key)

        return tf.data.Dataset.range(batches).map(gather)

    return parsed.flat_map(one_pass)


def _split_label(features: dict[str, tf.Tensor],
                 label_key: str) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    features = dict(features)
    label = features.pop(label_key)
    return {name: _as_column(value) for name, value in features.items()}, label


def _as_column(value: tf.Tensor) -> tf.Tensor:
    """Model inputs are [batch, 1]; Transform outputs scalars per example."""
    return tf.expand_dims(value, -1) if value.shape.rank == 1 else value
