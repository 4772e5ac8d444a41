"""What a dbt Python model applying the published models prints when it fails: a setting to fix
as its message alone, a bug with its traceback (dbt-duckdb formats both the same way)."""

import sys
import traceback

import pytest

from cible.applied import errors_as_messages
from cible.yaml_config import ConfigError


@pytest.fixture
def traceback_limit():
    """`errors_as_messages` sets the process's limit: give this worker its own back."""
    had = hasattr(sys, "tracebacklimit")
    before = getattr(sys, "tracebacklimit", None)
    yield
    if had:
        sys.tracebacklimit = before
    elif hasattr(sys, "tracebacklimit"):
        del sys.tracebacklimit


def _formatted(error: BaseException) -> str:
    # As dbt-duckdb reports a failed Python model.
    return "".join(traceback.format_exception(error))


def _apply(error: Exception) -> None:
    raise error


def test_a_setting_to_fix_is_formatted_as_its_message_alone(traceback_limit):
    with pytest.raises(ConfigError) as raised, errors_as_messages():
        _apply(ConfigError(["algorithm.k_min: must be a whole number"], "segmentation.yml"))
    text = _formatted(raised.value)
    assert text.startswith("cible.yaml_config.ConfigError: segmentation.yml: 1 problem(s)")
    assert "Traceback" not in text and "_apply" not in text


def test_a_bug_keeps_its_traceback(traceback_limit):
    with pytest.raises(KeyError) as raised, errors_as_messages():
        _apply(KeyError("customer_id"))
    text = _formatted(raised.value)
    assert text.startswith("Traceback (most recent call last):") and "_apply" in text
    assert getattr(sys, "tracebacklimit", None) is None
