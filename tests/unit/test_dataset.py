"""The input pipeline: batch shapes, and multi-worker sharding that neither duplicates nor loses
an example (checked by counting every example id over all input pipelines)."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import tensorflow as tf

import components  # noqa: F401 - configures TensorFlow first
from components.dataset import expand_files, make_dataset, shard_plan

FEATURES = {
    "example_id": tf.io.FixedLenFeature([], tf.int64),
    "value_xf": tf.io.FixedLenFeature([], tf.float32),
    "label_xf": tf.io.FixedLenFeature([], tf.int64),
}


def write_files(directory: Path, counts: list[int]) -> list[str]:
    """Gzipped TFRecord files like Transform's, with consecutive example ids."""
    paths, next_id = [], 0
    for index, count in enumerate(counts):
        path = directory / f"transformed_examples-{index:05d}-of-{len(counts):05d}.gz"
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        with tf.io.TFRecordWriter(str(path), options) as writer:
            for _ in range(count):
                example = tf.train.Example(features=tf.train.Features(feature={
                    "example_id": _int64(next_id),
                    "value_xf": tf.train.Feature(float_list=tf.train.FloatList(value=[next_id])),
                    "label_xf": _int64(next_id % 2),
                }))
                writer.write(example.SerializeToString())
                next_id += 1
        paths.append(str(path))
    return paths


def _int64(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def ids_seen(files: list[str], pipelines: int, *, shuffle: bool, seeds: list[int],
             cache: bool = False) -> list[int]:
    """All example ids read by ``pipelines`` input pipelines (one pass, each its own seed,
    as differently seeded workers would be)."""
    seen: list[int] = []
    for pipeline_id in range(pipelines):
        context = tf.distribute.InputContext(pipelines, pipeline_id, pipelines)
        dataset = make_dataset(files, FEATURES, "label_xf", 7, shuffle=shuffle, repeat=False,
                               seed=seeds[pipeline_id], cache=cache, input_context=context)
        for features, _ in dataset:
            seen.extend(int(i) for i in features["example_id"].numpy().reshape(-1))
    return seen


@pytest.mark.parametrize(
    ("counts", "pipelines"),
    [
        ([100], 2),            # one file, two workers: record sharding
        ([40, 35], 3),         # fewer files than workers: record sharding
        ([30, 31, 32], 2),     # more files than workers: file sharding, uneven files
        ([10, 20, 30, 40], 4),  # one file per worker
        ([25, 25], 1),         # single worker: no sharding
    ],
)
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("cache", [False, True], ids=["streaming", "cached"])
def test_every_example_is_read_exactly_once_across_workers(
    tmp_path: Path, counts: list[int], pipelines: int, shuffle: bool, cache: bool
) -> None:
    files = write_files(tmp_path, counts)
    seen = ids_seen(files, pipelines, shuffle=shuffle, seeds=[11 * (i + 1) for i in range(4)],
                    cache=cache)
    duplicated = [i for i, n in collections.Counter(seen).items() if n > 1]
    assert duplicated == []
    assert sorted(seen) == list(range(sum(counts)))


def test_each_worker_gets_a_nonempty_disjoint_share(tmp_path: Path) -> None:
    files = write_files(tmp_path, [60])
    shares = [
        set(ids_seen(files, 1, shuffle=True, seeds=[5]))  # reference: one worker sees all
    ]
    for pipeline_id in range(3):
        context = tf.distribute.InputContext(3, pipeline_id, 3)
        dataset = make_dataset(files, FEATURES, "label_xf", 4, shuffle=True, repeat=False,
                               seed=pipeline_id, input_context=context)
        shares.append({int(i) for f, _ in dataset for i in f["example_id"].numpy().reshape(-1)})
    assert all(len(share) == 20 for share in shares[1:])
    assert set.union(*shares[1:]) == shares[0]


def test_batches_are_parsed_columns_with_separate_labels(tmp_path: Path) -> None:
    files = write_files(tmp_path, [50, 50])
    features, labels = next(iter(make_dataset(files, FEATURES, "label_xf", 16, seed=1)))
    assert set(features) == {"example_id", "value_xf"}
    assert features["value_xf"].shape == (16, 1) and features["value_xf"].dtype == tf.float32
    assert labels.shape == (16,)
    ids = features["example_id"].numpy().reshape(-1)
    assert (labels.numpy() == ids % 2).all()


def test_repeat_drops_the_partial_batch_and_cache_keeps_content(tmp_path: Path) -> None:
    files = write_files(tmp_path, [10])
    streamed = make_dataset(files, FEATURES, "label_xf", 4, shuffle=False)
    batches = [f["example_id"].numpy().reshape(-1).tolist() for f, _ in streamed.take(5)]
    assert all(len(batch) == 4 for batch in batches)
    assert [i for batch in batches for i in batch] == [*range(10), *range(10)]
    # Cached: whole batches within each pass over the 10 records, the rest of a pass dropped.
    cached = make_dataset(files, FEATURES, "label_xf", 4, shuffle=False, cache=True)
    batches = [f["example_id"].numpy().reshape(-1).tolist() for f, _ in cached.take(4)]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7]] * 2


def test_cached_training_stream_reshuffles_every_pass(tmp_path: Path) -> None:
    files = write_files(tmp_path, [30, 34])
    cached = make_dataset(files, FEATURES, "label_xf", 16, seed=3, cache=True)
    batches = [f["example_id"].numpy().reshape(-1).tolist() for f, _ in cached.take(12)]
    assert all(len(batch) == 16 for batch in batches)
    # 64 records = 4 batches a pass
    passes = [[i for batch in batches[p:p + 4] for i in batch] for p in (0, 4, 8)]
    assert all(sorted(ids) == list(range(64)) for ids in passes)
    assert passes[0] != passes[1] != passes[2]


def test_cached_split_shorter_than_a_batch_still_gives_full_batches(tmp_path: Path) -> None:
    files = write_files(tmp_path, [5])
    cached = make_dataset(files, FEATURES, "label_xf", 8, seed=1, cache=True)
    features, labels = next(iter(cached))
    assert labels.shape == (8,)
    assert set(features["example_id"].numpy().reshape(-1)) == set(range(5))


@pytest.mark.parametrize(
    ("files", "pipelines", "plan"),
    [(1, 1, "none"), (5, 1, "none"), (1, 2, "record"), (3, 4, "record"), (4, 4, "file"),
     (9, 2, "file")],
)
def test_shard_plan(files: int, pipelines: int, plan: str) -> None:
    assert shard_plan(files, pipelines) == plan


def test_missing_files_name_the_pattern(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Split-train"):
        expand_files(str(tmp_path / "Split-train" / "*"))
