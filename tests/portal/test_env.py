import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_int, env_list, env_str

NAME = "PORTAL_TEST_VARIABLE"
SetEnv = Callable[[str], None]


@pytest.fixture
def setenv(monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    def set_value(value: str) -> None:
        monkeypatch.setenv(NAME, value)

    monkeypatch.delenv(NAME, raising=False)
    return set_value


@pytest.mark.parametrize("value", ["maybe", "2", "tru", "enabled"])
def test_env_bool_rejects_a_value_that_is_not_a_boolean(setenv: SetEnv, value: str) -> None:
    setenv(value)
    with pytest.raises(ImproperlyConfigured, match=NAME):
        env_bool(NAME, default=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("Yes", True), ("ON", True), ("false", False), ("0", False)],
)
def test_env_bool_reads_the_usual_spellings(setenv: SetEnv, value: str, expected: bool) -> None:
    setenv(value)
    assert env_bool(NAME, default=not expected) is expected


@pytest.mark.parametrize("value", ["abc", "1.5", "10s", "0x10"])
def test_env_int_rejects_a_value_that_is_not_an_integer(setenv: SetEnv, value: str) -> None:
    setenv(value)
    with pytest.raises(ImproperlyConfigured, match=NAME):
        env_int(NAME, default=1)


def test_env_int_rejects_a_value_below_its_minimum(setenv: SetEnv) -> None:
    setenv("-5")
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env_int(NAME, default=0, min_value=0)


def test_env_int_reads_an_integer(setenv: SetEnv) -> None:
    setenv(" 42 ")
    assert env_int(NAME, default=0) == 42


@pytest.mark.parametrize("value", ["a,,b", "a,", ",a"])
def test_env_list_rejects_an_empty_item(setenv: SetEnv, value: str) -> None:
    setenv(value)
    with pytest.raises(ImproperlyConfigured, match=NAME):
        env_list(NAME, default=[])


def test_env_list_splits_on_commas_and_trims(setenv: SetEnv) -> None:
    setenv("portal.example.com, [::1] ,localhost")
    assert env_list(NAME, default=[]) == ["portal.example.com", "[::1]", "localhost"]


@pytest.mark.parametrize("reader", [env_str, env_bool, env_int, env_list])
def test_a_required_variable_that_is_missing_or_empty_is_refused(
    setenv: SetEnv, reader: Callable[[str], object]
) -> None:
    with pytest.raises(ImproperlyConfigured, match=f"{NAME} must be set"):
        reader(NAME)
    setenv("   ")
    with pytest.raises(ImproperlyConfigured, match=f"{NAME} must be set"):
        reader(NAME)


def test_an_unset_variable_takes_its_default(setenv: SetEnv) -> None:
    assert env_str(NAME, default="x") == "x"
    assert env_bool(NAME, default=True) is True
    assert env_int(NAME, default=7) == 7
    assert env_list(NAME, default=["a"]) == ["a"]


def test_env_example_documents_every_variable_the_settings_read() -> None:
    root = Path(__file__).resolve().parents[2]
    settings_source = (root / "portal" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z0-9_]+)"', settings_source))
    documented = set(
        re.findall(r"^([A-Z0-9_]+)=", (root / ".env.example").read_text(), re.MULTILINE)
    )

    assert read
    assert read <= documented, read - documented
