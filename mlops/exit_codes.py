"""The exit codes of ``mlops run``, in one place: the CLI exits with them, the scheduler and the
dashboard read them back from finished runs, and :class:`mlops.summary.RunStatus` maps run
outcomes onto them. Import-light on purpose (the scheduler reads it without TensorFlow)."""

from __future__ import annotations

PUSHED = 0
FAILED = 1
CONFIG_ERROR = 2
NOT_BLESSED = 3
HALTED = 4
INPUT_ERROR = 5
RUNNING = 6
RUN_IN_PROGRESS = 7

RUN_OUTCOMES: dict[int, str] = {
    PUSHED: "pushed",
    FAILED: "failed",
    CONFIG_ERROR: "bad configuration",
    NOT_BLESSED: "not blessed",
    HALTED: "halted by validation",
    INPUT_ERROR: "bad input data",
    RUN_IN_PROGRESS: "another run in progress",
}


def run_outcome(code: int) -> str:
    """What an ``mlops run`` exit code means; -1 is a run killed by a signal."""
    return RUN_OUTCOMES.get(code, "interrupted" if code == -1 else "failed")
