"""Cron conversion for Kubeflow (6 fields, seconds first) against a table, and clear errors."""

from __future__ import annotations

import pytest
from croniter import croniter

from mlops.cron import CronError, normalize, to_kubeflow

VALID = [
    ("0 3 * * *", "0 0 3 * * *"),
    ("*/15 * * * *", "0 */15 * * * *"),
    ("30 2 * * 1-5", "0 30 2 * * 1-5"),
    ("0 0 1 JAN,jul *", "0 0 0 1 JAN,jul *"),
    ("5 4 * * sun", "0 5 4 * * sun"),
    ("0 12 * * 7", "0 0 12 * * 0"),
    ("0 12 * * 5-7", "0 0 12 * * 5-6,0"),
    ("0 12 * * 1,7", "0 0 12 * * 1,0"),
    ("0 12 * * 3-7/2", "0 0 12 * * 3,5,0"),
    ("  0   6  1,15 * *  ", "0 0 6 1,15 * *"),
    ("0 0 ? * MON", "0 0 0 ? * MON"),
    ("@daily", "0 0 0 * * *"),
    ("@hourly", "0 0 * * * *"),
    ("@weekly", "0 0 0 * * 0"),
    ("0-30/10 8-18/2 * * *", "0 0-30/10 8-18/2 * * *"),
]

INVALID = [
    ("61 * * * *", "field 1 (minute) value 61 is out of range 0-59"),
    ("0 24 * * *", "field 2 (hour) value 24 is out of range 0-23"),
    ("0 0 0 * *", "field 3 (day of month) value 0 is out of range 1-31"),
    ("0 0 1 13 *", "field 4 (month) value 13 is out of range 1-12"),
    ("0 0 * * 8", "field 5 (day of week) value 8 is out of range 0-7"),
    ("0 0 * FOO *", "field 4 (month) has 'FOO'"),
    ("*/0 * * * *", "field 1 (minute) step '/0'"),
    ("0 10-2 * * *", "field 2 (hour) range '10-2' runs backwards"),
    ("0 1,,2 * * *", "field 2 (hour) has an empty"),
    ("? * * * *", "field 1 (minute) cannot be '?'"),
    ("0 3 * *", "expected 5 fields"),
    ("0 0 3 * * *", "got 6; Kubeflow's 6-field form"),
    ("", "got 0"),
    ("@fortnightly", "unknown macro"),
]


@pytest.mark.parametrize(("five", "six"), VALID)
def test_conversion_table(five: str, six: str) -> None:
    assert to_kubeflow(five) == six
    assert len(six.split()) == 6 and six.split()[0] == "0"


@pytest.mark.parametrize(("five", "_six"), VALID)
def test_valid_expressions_are_accepted_by_croniter(five: str, _six: str) -> None:
    assert croniter.is_valid(normalize(five))


@pytest.mark.parametrize(("expression", "message"), INVALID)
def test_invalid_expressions_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(CronError) as error:
        to_kubeflow(expression)
    assert message in str(error.value)
    assert f"cron '{expression}'" in str(error.value)
