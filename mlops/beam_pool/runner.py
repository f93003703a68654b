"""``--runner=mlops.beam_pool.runner.PrewarmedDirectRunner``: the DirectRunner's FnApiRunner
with its multi-processing workers started through the zygote.

It changes nothing but the worker command: the pipeline options, the worker count
(``--direct_num_workers``) and the process-per-worker model are Beam's own. Without a zygote
(``MLOPS_BEAM_ZYGOTE`` unset) it behaves exactly like the DirectRunner's FnApiRunner.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability import python_urns
from apache_beam.portability.api import beam_provision_api_pb2, beam_runner_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.portability.portable_runner import JobServiceHandle

from mlops.beam_pool.pool import ZYGOTE_ADDRESS_ENV

CLIENT_COMMAND = f"{sys.executable} -m mlops.beam_pool.client"


class PrewarmedDirectRunner(fn_runner.FnApiRunner):
    def run_pipeline(self, pipeline: Any, options: PipelineOptions) -> Any:
        # What the DirectRunner hands its FnApiRunner: the options, for the workers.
        self._provision_info = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(
                pipeline_options=JobServiceHandle.encode_pipeline_options(
                    options.get_all_options())))
        return super().run_pipeline(pipeline, options)

    def run_via_runner_api(self, pipeline_proto: beam_runner_api_pb2.Pipeline,
                           options: PipelineOptions) -> Any:
        if os.environ.get(ZYGOTE_ADDRESS_ENV):
            use_zygote_workers(pipeline_proto)
        return super().run_via_runner_api(pipeline_proto, options)


def use_zygote_workers(pipeline_proto: beam_runner_api_pb2.Pipeline) -> int:
    """Point every subprocess worker environment at the zygote client; how many it changed.
    (The payload of Beam's Python subprocess environment is the command line itself.)"""
    changed = 0
    for environment in pipeline_proto.components.environments.values():
        if (environment.urn == python_urns.SUBPROCESS_SDK
                and b"sdk_worker_main" in environment.payload):
            environment.payload = CLIENT_COMMAND.encode()
            changed += 1
    return changed
