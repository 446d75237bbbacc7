"""Raw command outputs: stored as PostgreSQL can hold them, hashed as they were received."""

from __future__ import annotations

import hashlib

from fleet.models import NUL_SHOWN_AS
from fleet.selectors import output_text
from fleet.verify import sha256, storable


def test_an_output_with_nul_is_stored_shown_and_given_back_as_received() -> None:
    received = "EZZ2350I MVS TCP/IP NETSTAT\x00\x00garbled\nConnID: 0000001A\n"
    entry = {"text": storable(received), "nul_shown": received.count("\x00")}
    entry["sha256"] = sha256(received)

    assert "\x00" not in entry["text"] and NUL_SHOWN_AS in entry["text"]
    assert output_text(entry) == received
    assert hashlib.sha256(output_text(entry).encode()).hexdigest() == entry["sha256"]


def test_a_symbol_for_null_the_lpar_really_sent_is_left_as_it_is() -> None:
    received = f"a line with {NUL_SHOWN_AS} in it\n"
    entry = {"text": storable(received), "nul_shown": 0, "sha256": sha256(received)}

    assert output_text(entry) == received


def test_the_probe_output_is_its_canonical_json() -> None:
    entry = {"json": {"b": 1, "a": [2]}, "sha256": ""}

    assert output_text(entry) == '{"a":[2],"b":1}'
