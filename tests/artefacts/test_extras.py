"""vexil.extras: a missing optional dependency becomes one line naming what to install."""

from __future__ import annotations

import pytest

from vexil.errors import UsageError
from vexil.extras import MissingExtra, hint_for, requires


def _missing(name: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(f"No module named '{name}'", name=name)


@pytest.mark.parametrize(("module", "what", "hint"), [
    ("yaml", "vexil plan", "pip install 'vexil[cli]'"),
    ("boto3", "vexil backup", "pip install 'vexil[aws]'"),
    ("botocore.exceptions", "vexil keys", "pip install 'vexil[aws]'"),
    ("openfeature", "app", "pip install 'vexil[openfeature]'"),
    ("chalicelib", "vexil tokens bootstrap", "pip install vexil-control-plane"),
    # The local stack runs every server part, from a checkout: its set-up has them all.
    ("boto3", "vexil dev up", "the local stack runs from a checkout: ./run setup"),
    ("chalicelib", "vexil dev", "the local stack runs from a checkout: ./run setup"),
    ("chalice", "vexil dev status", "the local stack runs from a checkout: ./run setup"),
])
def test_known_modules_name_their_extra(module: str, what: str, hint: str) -> None:
    found = hint_for(_missing(module), what)
    assert found is not None
    assert found.startswith(hint)


def test_requires_turns_a_missing_extra_into_a_usage_error() -> None:
    with pytest.raises(MissingExtra) as caught, requires("vexil backup"):
        raise _missing("boto3")
    assert isinstance(caught.value, UsageError)
    assert caught.value.exit_code == 2
    assert caught.value.message == "vexil backup needs boto3: pip install 'vexil[aws]'"


@pytest.mark.parametrize("module", ["vexil.nonexistent", "edge_reader.gone", "somethingelse"])
def test_our_own_or_unknown_modules_stay_loud(module: str) -> None:
    # A missing module of our own is a broken install, not a missing extra.
    assert hint_for(_missing(module), "vexil plan") is None
    with pytest.raises(ModuleNotFoundError), requires("vexil plan"):
        raise _missing(module)


def test_requires_leaves_other_errors_alone() -> None:
    with pytest.raises(ValueError, match="boom"), requires("vexil plan"):
        raise ValueError("boom")
