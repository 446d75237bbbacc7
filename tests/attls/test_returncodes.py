"""Return codes of AT-TLS handshake failures, as readers of the evidence see them."""

from __future__ import annotations

import pytest

from attls.returncodes import RETURN_CODES, describe


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        (412, "412 no protocol version in common"),
        ("402", "402 no cipher suite in common"),
        ("5003", "5003 cleartext received where TLS was expected"),
        (406, "406 I/O error on the socket (unconfirmed)"),
        (499, "499 (System SSL code)"),
        ("6002", "6002 (AT-TLS code)"),
        ("RC?", "RC?"),
    ],
)
def test_a_code_is_shown_with_its_meaning_or_as_logged(code: object, shown: str) -> None:
    assert describe(code) == shown  # type: ignore[arg-type]


def test_every_known_code_is_in_its_range() -> None:
    for code in RETURN_CODES:
        assert 0 < code < 5000 or 5001 <= code <= 6999
