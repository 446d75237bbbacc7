"""Files as they arrive from z/OS: EBCDIC, UTF-8, or UTF-8 with stray bytes; never a failure."""

import time

from attls.textcodec import decode_text, encode_ebcdic, looks_like_ebcdic

POLICY = "TTLSRule r # [note] ^\n{\n  LocalPortRange 23\n}\n"


def test_ibm1047_text_is_detected_and_decoded_with_its_brackets():
    data = encode_ebcdic(POLICY, "IBM-1047")
    assert looks_like_ebcdic(data)
    decoded = decode_text(data)
    assert (decoded.encoding, decoded.text, decoded.warnings) == ("IBM-1047", POLICY, ())


def test_ibm037_differs_from_1047_only_in_brackets_caret_and_not_sign():
    data = encode_ebcdic(POLICY, "IBM-037")
    assert data != encode_ebcdic(POLICY, "IBM-1047")
    assert decode_text(data, encoding="IBM-037").text == POLICY
    assert decode_text(data).text.replace("Ý", "[").replace("¨", "]") != POLICY  # 1047 reading


def test_utf8_is_read_as_is_and_a_bom_is_dropped():
    assert decode_text(POLICY.encode()).encoding == "UTF-8"
    assert decode_text(b"\xef\xbb\xbf" + POLICY.encode()).text == POLICY
    assert not looks_like_ebcdic("# Zürich ünd Köln\n".encode())


def test_a_stray_byte_is_read_as_latin1_with_a_warning_naming_line_column_and_byte():
    data = b"TTLSRule r\n# \xb8 Rocket\n{\n}\n"
    decoded = decode_text(data)
    assert decoded.encoding == "UTF-8+Latin-1"
    assert decoded.text.splitlines()[1] == "# \u00b8 Rocket"
    [warning] = decoded.warnings
    assert (warning.line, warning.column) == (2, 3)
    assert "0xB8" in warning.message


def test_many_stray_bytes_are_summed_up_and_cost_linear_time():
    data = (b"# \xff\n" * 200_000) + b"TTLSRule r\n"
    started = time.process_time()
    decoded = decode_text(data)
    assert time.process_time() - started < 1.0
    assert len(decoded.warnings) == 21
    assert decoded.warnings[-1].message.startswith("199980 more byte(s)")
