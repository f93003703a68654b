"""Pre-warmed Beam workers (mlops/beam_pool): Beam pipelines run in worker processes forked from
the zygote, with the same results and failures as cold workers, and fall back to cold workers
when there is no zygote."""

from __future__ import annotations

import os
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability import python_urns
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import environments

from mlops.beam_pool import RUNNER_NAME, ZYGOTE_ADDRESS_ENV, prewarmed_workers
from mlops.beam_pool.runner import CLIENT_COMMAND, use_zygote_workers

COLD_COMMAND = "python -m apache_beam.runners.worker.sdk_worker_main"


def multi_processing_options() -> PipelineOptions:
    return PipelineOptions([f"--runner={RUNNER_NAME}", "--direct_running_mode=multi_processing",
                            "--direct_num_workers=2"])


def worker_parents(pipeline: beam.Pipeline, count: int) -> beam.PCollection:
    """Square numbers in the workers and note what started each worker process."""
    return (
        pipeline
        | beam.Create(range(count), reshuffle=True)
        | beam.Map(lambda x: (x * x, open(f"/proc/{__import__('os').getppid()}/cmdline",
                                          "rb").read().replace(b"\0", b" ").decode()))
    )


def test_only_subprocess_worker_environments_are_redirected() -> None:
    pipeline = beam.Pipeline()
    _ = pipeline | beam.Create([1]) | beam.Map(str)
    cold = environments.SubprocessSDKEnvironment.from_command_string(COLD_COMMAND)
    proto = pipeline.to_runner_api(default_environment=cold)
    proto.components.environments["docker"].urn = "beam:env:docker:v1"
    assert use_zygote_workers(proto) == 1
    subprocess_envs = [env for env in proto.components.environments.values()
                       if env.urn == python_urns.SUBPROCESS_SDK]
    assert [env.payload.decode() for env in subprocess_envs] == [CLIENT_COMMAND]
    assert proto.components.environments["docker"].payload == b""


@pytest.mark.slow
def test_workers_are_forked_from_the_zygote_and_compute_the_same(tmp_path: Path) -> None:
    with prewarmed_workers() as address:
        assert os.environ[ZYGOTE_ADDRESS_ENV] == address
        with beam.Pipeline(options=multi_processing_options()) as pipeline:
            results = worker_parents(pipeline, 200)
            squares = results | "values" >> beam.Map(lambda pair: pair[0])
            parents = (results | "parents" >> beam.Map(lambda pair: pair[1])
                       | beam.Distinct())
            assert_that(squares, equal_to([x * x for x in range(200)]), label="squares")
            assert_that(parents, lambda found: _all_zygote(found), label="parents")
    assert ZYGOTE_ADDRESS_ENV not in os.environ
    assert not Path(address).exists()


def _all_zygote(parents: list[str]) -> None:
    assert parents and all("mlops.beam_pool.zygote" in parent for parent in parents), parents


@pytest.mark.slow
def test_a_failing_worker_fails_the_pipeline_with_its_error() -> None:
    def explode(x: int) -> int:
        raise ValueError(f"bad record {x}")

    with (prewarmed_workers(), pytest.raises(Exception, match="bad record"),
          beam.Pipeline(options=multi_processing_options()) as pipeline):
        _ = pipeline | beam.Create([1, 2, 3]) | beam.Map(explode)


@pytest.mark.slow
def test_without_a_zygote_the_runner_starts_cold_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ZYGOTE_ADDRESS_ENV, raising=False)
    with beam.Pipeline(options=multi_processing_options()) as pipeline:
        results = worker_parents(pipeline, 20)
        parents = results | beam.Map(lambda pair: pair[1]) | beam.Distinct()
        assert_that(parents, lambda found: _none_zygote(found))


def _none_zygote(parents: list[str]) -> None:
    assert parents and not any("mlops.beam_pool.zygote" in parent for parent in parents)


def test_a_vanished_zygote_falls_back_to_a_cold_worker(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The client execs Beam's own worker when the zygote's socket is not there."""
    import subprocess
    import sys

    monkeypatch.setenv(ZYGOTE_ADDRESS_ENV, str(tmp_path / "gone.sock"))
    # Beam's worker exits with an error at once without its control-plane address: what
    # matters is that it is Beam's worker module that ran, not the client's own error.
    result = subprocess.run([sys.executable, "-m", "mlops.beam_pool.client"],
                            capture_output=True, text=True, timeout=120,
                            env={k: v for k, v in os.environ.items()
                                 if k != "CONTROL_API_SERVICE_DESCRIPTOR"})
    assert result.returncode != 0
    # Beam's worker ran (it wants its control-plane address), not the client failing itself.
    assert "KeyError: 'CONTROL_API_SERVICE_DESCRIPTOR'" in result.stderr
    assert "apache_beam/runners/worker/sdk_worker_main.py" in result.stderr
    assert "beam_pool/client.py" not in result.stderr
