"""SMF 119 zERT records: the layout, round trips, damaged dumps, framings and the CLI."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attls.ciphers import Protocol
from attls.cli import main
from attls.reports import smf119 as z
from tests.attls.reports.zert_strategies import connection_records, records, summary_records

IDENT = z.Identification("SYSA", "PLEXA", "TCPIP", "CS V3R1", "STACK", "TCPIP", "TCPIP", 0x21, 8, 0)
HEADER = z.SmfHeader(0x5E, 4_500_000, dt.date(2026, 12, 6), "SYSA", "")


def tls(version: int = 0x0303, cipher: str = "C02F") -> z.TlsAttributes:
    return z.TlsAttributes(
        version_code=version,
        cipher=cipher,
        key_exchange=0,
        encryption=0,
        message_auth=0,
        source=2,
        crypto_flags=0,
        server_certificate=z.CertificateFacts(7, 2, 6, 5, 256),
        client_certificate=None,
        handshake_role=2,
        provider="IBM System SSL",
    )


def connection(**changes: object) -> z.ConnectionRecord:
    record = z.ConnectionRecord(
        header=HEADER,
        ident=IDENT,
        event=3,
        security_protocols=0x80,
        flags=0,
        security_flags=0,
        ip_protocol=6,
        jobname="TN3270A",
        jobid="STC00042",
        userid="TN3270A",
        start_time=4_400_000,
        start_date=dt.date(2026, 12, 6),
        end_time=4_500_000,
        end_date=dt.date(2026, 12, 6),
        remote_address="192.0.2.7",
        local_address="10.1.1.1",
        remote_port=40123,
        local_port=992,
        connection_id=0x106,
        in_bytes=1000,
        out_bytes=2000,
        in_segments=10,
        out_segments=20,
        tls=tls(),
    )
    return record._replace(**changes)


def hand_built_record() -> bytes:
    """A subtype 11 TLS record built from the reference's recipe, byte by byte (§6):
    ID section at 84, common at 148, TLS at 276, 444 bytes in all."""
    ebcdic = lambda text, width: text.encode("cp037").ljust(width, b"\x40")  # noqa: E731
    header = struct.pack(">HHBBI", 444, 0, 0x5E, 119, 4_500_000)
    header += bytes.fromhex("0126340F") + ebcdic("SYSA", 4) + ebcdic("", 4) + b"\x00\x0b"
    triplets = struct.pack(">HH", 7, 0)
    for offset, length, number in (
        (84, 64, 1), (148, 128, 1), (0, 0, 0), (276, 168, 1), (0, 0, 0), (0, 0, 0), (0, 0, 0)
    ):  # fmt: skip
        triplets += struct.pack(">IHH", offset, length, number)
    ident = b"".join(ebcdic(t, 8) for t in ("SYSA", "PLEXA", "TCPIP", "CS V3R1", "STACK"))
    ident += ebcdic("TCPIP", 8) + ebcdic("TCPIP", 8) + b"\x00\x00\x00\x21\x08\x00\x00\x00"
    common = bytes([3, 0x80, 0, 0, 6]) + bytes(3)
    common += ebcdic("TN3270A", 8) + ebcdic("STC00042", 8) + ebcdic("TN3270A", 8)
    common += struct.pack(">I", 4_400_000) + bytes.fromhex("0126340F")
    common += struct.pack(">I", 4_500_000) + bytes.fromhex("0126340F")
    common += bytes([192, 0, 2, 7]) + bytes(12) + bytes([10, 1, 1, 1]) + bytes(12)
    common += struct.pack(">HHIQQQQ", 40123, 992, 0x106, 1000, 2000, 10, 20) + bytes(8)
    section = struct.pack(">HBBB", 0x0303, 2, 0, 2) + bytes(2) + bytes(1 + 32)
    section += ebcdic("IBM System SSL", 16) + bytes.fromhex("C3F0F2C64040")  # 'C02F  '
    section += bytes(6) + bytes(2) + bytes(2)  # enc, mac, kex, FIPS, flags, reserved
    section += (
        struct.pack(">HHH", 7, 2, 6) + bytes(1 + 1 + 20 + 1 + 15) + struct.pack(">HH", 5, 256)
    )
    section += bytes(168 - len(section))
    record = header + triplets + ident + common + section
    assert len(record) == 444
    return record


def test_a_record_built_from_the_reference_layout_reads_field_by_field() -> None:
    record = z.parse_record(hand_built_record())
    assert isinstance(record, z.ConnectionRecord)
    assert record == connection()
    assert record.event_name == "ConnTerm"
    assert record.protection == "TLS"
    assert record.tls is not None
    assert record.tls.protocol is Protocol.TLSV1_2
    assert record.tls.version_name == "TLSv1.2"
    assert record.tls.cipher == "C02F"
    assert record.started_at == dt.datetime(2026, 12, 6, 12, 13, 20, tzinfo=dt.UTC)
    assert record.ident.component == "STACK"


def test_the_renderer_writes_the_reference_layout_byte_for_byte() -> None:
    assert z.render_record(connection()) == hand_built_record()


def test_packed_dates_follow_0cyydddf() -> None:
    assert z._pack_date(dt.date(2024, 1, 5)) == 0x0124005F
    assert z._packed_date(0x0124005F) == dt.date(2024, 1, 5)
    assert z._packed_date(0x0099365F) == dt.date(1999, 12, 31)
    assert z._packed_date(0x0000000F) is None
    assert z._packed_date(0) is None


def test_unknown_codes_stay_raw_numbers_and_names_only_what_the_sources_list() -> None:
    record = connection(security_protocols=0x91, tls=tls(version=0x0305, cipher="ABCD"))
    back = z.parse_record(z.render_record(record))
    assert isinstance(back, z.ConnectionRecord)
    assert back.tls is not None
    assert back.tls.version_code == 0x0305
    assert back.tls.protocol is None
    assert back.tls.version_name == "X'0305'"
    assert back.protection == "TLS+X'11'"
    assert back.tls.key_exchange_name == "unknown"
    assert back._replace(tls=back.tls._replace(key_exchange=0x0042)).tls.key_exchange_name is None


def test_an_ipv6_connection_keeps_its_full_addresses() -> None:
    record = connection(flags=0x80, remote_address="2001:db8::7", local_address="fd00::1")
    back = z.parse_record(z.render_record(record))
    assert back == record


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, min_size=1, max_size=6), st.sampled_from([None, 64, 300]))
def test_any_record_rendered_and_read_back_is_the_same(
    written: list[z.ZertRecord], segment_size: int | None
) -> None:
    dump = z.render_dump(written, segment_size=segment_size)
    read, warnings = z.read_dump(dump)
    assert warnings == []
    assert read == written
    for record in written:
        assert z.parse_record(z.render_record(record)) == record


@settings(max_examples=60, deadline=None)
@given(st.lists(connection_records() | summary_records(), min_size=1, max_size=4))
def test_the_zosmf_record_download_reads_with_or_without_rdws(written: list[z.ZertRecord]) -> None:
    with_rdw = z.render_dump(written, framing="length-prefixed")
    assert z.read_dump(with_rdw) == (written, [])
    without = b"".join(
        struct.pack(">I", len(data) - 4) + data[4:] for data in map(z.render_record, written)
    )
    assert z.read_dump(without) == (written, [])


def _eight_triplet_record() -> z.ConnectionRecord:
    return connection(
        triplets=8,
        unknown_sections=(z.UnknownSection(8, b"POLICY-RULE".ljust(48, b"\x40"), 1, 48),),
    )


def test_a_dump_with_unknown_triplets_and_a_damaged_record_loses_only_that_record() -> None:
    eight = _eight_triplet_record()
    nine = connection(
        event=1, triplets=9, unknown_sections=(z.UnknownSection(9, b"\x01\x02\x03\x04", 2, 2),)
    )
    damaged = bytearray(z.render_record(connection(connection_id=7)))
    struct.pack_into(">I", damaged, 52, 60_000)  # the TLS triplet now points far outside
    bad_date = bytearray(z.render_record(connection(connection_id=8)))
    bad_date[148 + 36 : 148 + 40] = b"\x01\x26\x9a\x0f"  # not packed decimal
    summary = z.SummaryRecord(
        HEADER,
        IDENT._replace(reason=0x80),
        600 * 1_000_000 << 12,
        1,
        0x40,
        0x80,
        "TN3270A",
        "TN3270A",
        6,
        "10.1.1.1",
        "192.0.2.7",
        992,
        992,
        "t-ABCDEF",
        z.SummaryCounts(1, 0, 0, 1, 10, 20, 1, 2),
        z.SummaryCounts(4, 0, 2, 1, 100, 200, 10, 20),
        tls=tls()._replace(handshake_role=0, provider="", server_certificate=None),
    )
    parts = [
        z.render_record(eight),
        z.render_record(nine),
        bytes(damaged),
        z.render_record(summary),
        bytes(bad_date),
        z.render_record(connection(event=4)),
    ]
    offsets = [sum(len(p) for p in parts[:i]) for i in range(len(parts))]
    read, warnings = z.read_dump(b"".join(parts))
    assert read == [eight, nine, summary, connection(event=4)]
    assert [w.offset for w in warnings] == [offsets[2], offsets[4]]
    assert "triplet 4 points outside the record" in warnings[0].message
    assert "packed date" in warnings[1].message
    assert read[0].unknown_sections[0].data.startswith(b"POLICY-RULE")
    assert read[2].interval_seconds == 600


def test_other_smf_records_in_the_dump_are_counted_not_warned_about() -> None:
    other = bytearray(z.render_record(connection()))
    other[23] = 2  # SMF 119 subtype 2 (TCP connection termination)
    reader = z.ZertReader(io.BytesIO(bytes(other) + z.render_record(connection())))
    assert list(reader) == [connection()]
    assert reader.other_records == 1
    assert reader.warnings == []


def test_a_dump_cut_in_the_middle_reads_what_is_whole_and_says_it_was_cut() -> None:
    whole = z.render_dump([connection(), connection(event=1)])
    reader = z.ZertReader(io.BytesIO(whole[:-100]))
    assert list(reader) == [connection()]
    assert reader.truncated
    assert reader.warnings[0].offset == 444
    assert "cut short" in reader.warnings[0].message


def test_a_dump_cut_inside_a_spanned_record_says_so() -> None:
    dump = z.render_dump([connection(), connection(event=1)], segment_size=200)
    reader = z.ZertReader(io.BytesIO(dump[:-150]))
    assert list(reader) == [connection()]
    assert reader.truncated


def test_garbage_between_records_is_skipped_and_reading_resumes_at_the_next_record() -> None:
    good = z.render_record(connection())
    dump = good + b"\xff\xff\x07\x00garbage" + good
    read, warnings = z.read_dump(dump, framing="rdw")
    assert read == [connection(), connection()]
    assert len(warnings) == 1 and warnings[0].offset == len(good)


def test_the_reader_streams_in_chunks_across_record_boundaries() -> None:
    written = [connection(connection_id=n) for n in range(400)]
    dump = z.render_dump(written, segment_size=100)
    reader = z.ZertReader(io.BytesIO(dump), chunk_size=1)  # raised to its 64 KiB floor
    assert list(reader) == written


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_the_libraries_own_error(data: bytes) -> None:
    with contextlib.suppress(z.Smf119Error):
        z.parse_record(data)
    for framing in ("auto", "rdw", "length-prefixed"):
        z.read_dump(data, framing=framing)  # warnings, never an exception


@settings(max_examples=150, deadline=None)
@given(records, st.data())
def test_a_damaged_valid_record_raises_only_the_libraries_own_error(
    record: z.ZertRecord, data: st.DataObject
) -> None:
    raw = bytearray(z.render_record(record))
    for _ in range(data.draw(st.integers(1, 6))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(z.Smf119Error):
        z.parse_record(bytes(raw))
    z.read_dump(bytes(raw) + z.render_record(record))


def test_parse_record_refuses_a_record_that_is_not_zert() -> None:
    other = bytearray(z.render_record(connection()))
    other[5] = 30
    with pytest.raises(z.Smf119Error, match="type 30 subtype 11 is not zERT"):
        z.parse_record(bytes(other))
    with pytest.raises(z.Smf119Error, match="RDW says"):
        z.parse_record(z.render_record(connection())[:-1])


def test_the_renderer_refuses_values_the_layout_cannot_hold() -> None:
    with pytest.raises(ValueError, match="longer than 8"):
        z.render_record(connection(jobname="TOOLONGJOB"))
    with pytest.raises(ValueError, match="packed"):
        z.render_record(connection(start_date=dt.date(2100, 1, 1)))


# --- the command line -----------------------------------------------------------------------------


def test_the_zert_command_prints_a_line_per_record_a_summary_and_each_warning(tmp_path) -> None:
    damaged = bytearray(z.render_record(connection()))
    struct.pack_into(">I", damaged, 52, 60_000)
    parts = [
        z.render_record(connection(event=1)),
        bytes(damaged),
        z.render_record(connection(event=4, security_protocols=0, tls=None)),
        z.render_record(connection(tls=tls(version=0x0301, cipher="0035"))),
    ]
    dump = tmp_path / "zert.smf"
    dump.write_bytes(b"".join(parts))
    out, err = io.StringIO(), io.StringIO()
    assert main(["zert", str(dump)], out, err) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split() == [
        "ConnInit", "TN3270A", "TN3270A", "10.1.1.1..992", "192.0.2.7..40123", "TLS", "TLSv1.2",
        "C02F",
    ]  # fmt: skip
    assert lines[1].split()[5:] == ["none", "-", "-"]
    assert lines[2].split()[5:] == ["TLS", "TLSv1", "0035"]
    assert "3 zERT record(s)" in lines[3] and "1 skipped as damaged" in lines[3]
    assert "2 connection(s) ended" in lines[4] and "TLS 1" in lines[4] and "none 1" in lines[4]
    assert lines[5].strip() == "TLS versions: TLSv1 1"
    assert err.getvalue() == (
        f"{dump}: offset {len(parts[0])}: warning: damaged record skipped: triplet 4 points "
        "outside the record (offset 60000, 1 x 168 bytes, record 444 bytes)\n"
    )


def test_the_zert_command_fails_with_one_line_and_status_2(tmp_path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["zert", str(tmp_path / "missing.smf")], out, err) == 2
    assert err.getvalue().startswith("error: ") and err.getvalue().count("\n") == 1
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x12\x34" * 200)
    err = io.StringIO()
    assert main(["zert", str(garbage)], out, err) == 2
    assert err.getvalue().splitlines()[-1] == f"{garbage}: error: no zERT record could be read"
