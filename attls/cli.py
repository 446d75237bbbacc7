"""`python -m attls`: the domain library at the command line, without the portal.

    python -m attls lint FILE [--profile nist|aead-ecdhe] [--json] [--release 3.1]
    python -m attls render FILE [--keep-comments]
    python -m attls explain FILE --local-port 23 --job TN3270A [--direction inbound] ...
    python -m attls pasearch-summary REPORT
    python -m attls zert DUMP [--framing auto|rdw|length-prefixed]
    python -m attls impact OLD NEW --peers PEERS.csv

FILE and REPORT may be `-` for standard input, in UTF-8 or EBCDIC (IBM-1047/037, detected);
bytes that are not UTF-8 are read as Latin-1 with a warning. Exit status: 0 when all is well,
1 when lint finds errors (or explain finds no rule), 2 for input that cannot be read (or has
syntax errors). Every failure ends with one line on standard error; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from attls import ciphers
from attls.effective import EffectiveSettings
from attls.errors import AttlsError, ReportParseError
from attls.lint import Finding, Profile, lint
from attls.matching import Connection, RuleMatcher
from attls.policy import Policy, PolicyReading, read_policy, render_policy
from attls.policy.model import TIE_ORDER_NOTE
from attls.releases import DEFAULT_RELEASE, RELEASES
from attls.reports.pasearch import parse_pasearch, pasearch_summary
from attls.textcodec import decode_text

PROFILES = {
    "nist": Profile.nist_800_52r2,
    "aead-ecdhe": Profile.tls12_13_aead_ecdhe,
}


def _read_bytes(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def _read(path: str) -> str:
    """A report's text, whatever its encoding (see attls.textcodec)."""
    return decode_text(_read_bytes(path)).text


def _print_errors(path: str, reading: PolicyReading, err: TextIO) -> None:
    for problem in reading.errors:
        print(f"{path}:{problem.line}:{problem.column}: error: {problem.message}", file=err)


def _load_policy(path: str, err: TextIO) -> Policy | None:
    """The policy of a file that has no syntax errors; None (errors printed) otherwise."""
    reading = read_policy(_read_bytes(path))
    if reading.errors:
        _print_errors(path, reading, err)
        print(f"{path}: {len(reading.errors)} syntax error(s); nothing was done", file=err)
        return None
    return reading.policy


def _finding_line(path: str, finding: Finding) -> str:
    where = f"{finding.location.line}:{finding.location.column}:" if finding.location else ""
    return f"{path}:{where} {finding.severity}: {finding.message} [{finding.code}]"


def cmd_lint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Syntax errors first (on stderr), then lint of every statement that could be built."""
    reading = read_policy(_read_bytes(args.file))
    policy = reading.policy
    _print_errors(args.file, reading, err)
    profile = PROFILES[args.profile]() if args.profile else None
    findings = lint(policy, profile, release=args.release)
    if reading.errors:
        # The parser has reported each undefined name at the word that uses it.
        findings = [f for f in findings if f.code != "dangling-reference"]
    if args.json:
        json.dump(
            [
                {
                    "severity": f.severity,
                    "code": f.code,
                    "message": f.message,
                    "statement": list(f.statement) if f.statement else None,
                    "line": f.location.line if f.location else None,
                    "column": f.location.column if f.location else None,
                }
                for f in findings
            ],
            out,
            indent=2,
        )
        out.write("\n")
    else:
        for finding in findings:
            print(_finding_line(args.file, finding), file=out)
        counts = {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning")}
        syntax = f", {len(reading.errors)} syntax error(s)" if reading.errors else ""
        print(
            f"{args.file}: {len(policy.rules)} rule(s){syntax}, {counts['error']} error(s),"
            f" {counts['warning']} warning(s)",
            file=out,
        )
    if reading.errors:
        print(f"{args.file}: {len(reading.errors)} syntax error(s)", file=err)
        return 2
    return 1 if any(f.severity == "error" for f in findings) else 0


def cmd_render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    policy = _load_policy(args.file, err)
    if policy is None:
        return 2
    out.write(render_policy(policy, keep_comments=args.keep_comments))
    return 0


def _describe(settings: EffectiveSettings) -> list[str]:
    on = [p.value for p in settings.enabled_protocols]
    lines = [
        f"  TTLSEnabled           {'On' if settings.ttls_enabled else 'Off (cleartext)'}"
        f"   [{settings.sources.get('ttls_enabled', 'default')}]",
        f"  actions               group {settings.group_action}, environment"
        f" {settings.environment_action or '-'}, connection {settings.connection_action or '-'}",
        f"  HandshakeRole         {settings.handshake_role or '-'}"
        f"   [{settings.sources.get('handshake_role', 'default')}]",
        f"  protocols On          {', '.join(on) or 'none'}",
    ]
    for protocol, enabled in settings.protocols.items():
        source = settings.protocol_sources.get(protocol, "default")
        lines.append(f"    {protocol.value:<20}{'On' if enabled else 'Off'}   [{source}]")
    lines.append(f"  ciphers               from {settings.ciphers_from} (z/OS {settings.release})")
    for code in settings.v3_cipher_suites:
        suite = ciphers.get(code)
        name = suite.iana_name if suite else "(not in the registry)"
        lines.append(f"    {code}  {name}")
    for code in settings.not_implemented_suites:
        suite = ciphers.get(code)
        name = suite.iana_name if suite else ""
        lines.append(
            f"    {code}  {name}  left out: System SSL on z/OS {settings.release} does not"
            " implement it"
        )
    lines += [
        f"  ClientAuthType        {settings.client_auth_type}",
        f"  Keyring               {settings.keyring or '-'}",
        f"  HandshakeTimeout      {settings.handshake_timeout}",
    ]
    return lines


def cmd_explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    policy = _load_policy(args.file, err)
    if policy is None:
        return 2
    try:
        connection = Connection(
            local_addr=args.local_addr,
            local_port=args.local_port,
            remote_addr=args.remote_addr,
            remote_port=args.remote_port,
            jobname=args.job,
            userid=args.userid,
            direction=args.direction.capitalize(),
        )
    except ValueError as error:
        print(f"error: {error}", file=err)
        return 2
    matcher = RuleMatcher(policy, release=args.release)
    candidates = matcher.candidates(connection)
    if not candidates:
        print("No rule matches: the connection is not handled by AT-TLS (cleartext).", file=out)
        return 1
    winner = candidates[0]
    print(f"Winning rule: {winner.rule} (priority {winner.priority})", file=out)
    for reason in winner.reasons:
        print(f"  matched: {reason}", file=out)
    for line in _describe(winner.effective):
        print(line, file=out)
    if len(candidates) > 1 and candidates[1].priority == winner.priority:
        print(f"  tie: {candidates[1].rule} has the same priority; {TIE_ORDER_NOTE}", file=out)
    if len(candidates) > 1:
        print("Also matching, searched later:", file=out)
        for other in candidates[1:]:
            print(f"  {other.rule} (priority {other.priority})", file=out)
    return 0


def cmd_pasearch_summary(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        report = parse_pasearch(_read(args.report))
    except ReportParseError as error:
        print(f"{args.report}:{error.line}: error: {error.message}", file=err)
        return 2
    out.write(pasearch_summary(report))
    if not pasearch_summary(report).endswith("\n"):
        out.write("\n")
    for warning in report.warnings:
        print(
            f"{args.report}:{warning.line}: warning: unrecognised line kept: {warning.text!r}",
            file=err,
        )
    return 0


def cmd_zert(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """One line per zERT record of an SMF dump, a summary, a warning per skipped record."""
    from attls.reports import smf119

    tally = smf119.ZertTally()
    with open(args.dump, "rb") if args.dump != "-" else sys.stdin.buffer as stream:
        reader = smf119.ZertReader(stream, framing=args.framing)
        for record in reader:
            print(smf119.format_record(record), file=out)
            tally.add(record)
    for line in tally.lines(skipped=len(reader.warnings), other=reader.other_records):
        print(line, file=out)
    for warning in reader.warnings:
        print(f"{args.dump}: offset {warning.offset}: warning: {warning.message}", file=err)
    if reader.records == 0 and reader.warnings:
        print(f"{args.dump}: error: no zERT record could be read", file=err)
        return 2
    return 0


def _add_release(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--release",
        choices=sorted(RELEASES),
        default=DEFAULT_RELEASE,
        help=f"z/OS release of the stack, for defaults and ciphers (default {DEFAULT_RELEASE})",
    )


def cmd_impact(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Who the change from OLD (`-`: no AT-TLS policy yet) to NEW would break; every failure 2."""
    from attls.impact import ImpactInputError, Verdict, predict
    from attls.impact.peers_csv import read_peers_csv

    try:
        policies: list[Policy | None] = []
        for index, path in enumerate((args.old, args.new)):
            if index == 0 and path == "-":
                policies.append(None)  # no AT-TLS policy yet
                continue
            reading = read_policy(_read_bytes(path))
            if reading.errors:
                first = reading.errors[0]
                print(f"{path}:{first.line}:{first.column}: error: {first.message}", file=err)
                return 2
            policies.append(reading.policy)
        old, new = policies
        assert new is not None
        with open(args.peers, encoding="utf-8", newline="") as handle:
            peers = read_peers_csv(handle.read())
        prediction = predict(old, new, peers, release=args.release)
    except ImpactInputError as error:
        print(f"{args.peers}:{error.line}:{error.column}: error: {error.message}", file=err)
        return 2
    except (OSError, UnicodeDecodeError) as error:
        print(f"error: {error}", file=err)
        return 2
    for peer in prediction.peers:
        print(
            f"{peer.verdict.value:<10} {peer.direction:<8} {peer.remote_address}"
            f" port {peer.local_port if peer.direction == 'Inbound' else peer.remote_port}"
            f" job {peer.job or '-'}  rule {peer.rule or '-'}"
            f"{' (unchanged)' if peer.unchanged else ''}: {peer.reason}",
            file=out,
        )
    for service in prediction.services:
        counts = ", ".join(f"{v.value} {n}" for v, n in service.counts.items() if n)
        same = ", ".join(f"{v.value} {n}" for v, n in service.unchanged.items() if n)
        if same:
            counts += ("; " if counts else "") + f"unchanged: {same}"
        print(f"service {service.service}: {counts or 'no-data (no peer observed)'}", file=out)
    total = prediction.counts
    print("total: " + ", ".join(f"{v.value} {total[v]}" for v in Verdict), file=out)
    unchanged = prediction.unchanged
    if any(unchanged.values()):
        print(
            "unchanged by this candidate (not counted above): "
            + ", ".join(f"{v.value} {n}" for v, n in unchanged.items() if n),
            file=out,
        )
    return 0


def _one_line_error(parser: argparse.ArgumentParser) -> Callable[[str], NoReturn]:
    """argparse's error, without the usage block: every failure of impact is one line."""

    def error(message: str) -> NoReturn:
        parser.exit(2, f"{parser.prog}: error: {message}\n")

    return error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m attls", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    lint_cmd = commands.add_parser("lint", help="check a policy file; every problem with its line")
    lint_cmd.add_argument("file")
    lint_cmd.add_argument(
        "--profile", choices=sorted(PROFILES), help="also check against a profile"
    )
    lint_cmd.add_argument("--json", action="store_true", help="findings as JSON")
    _add_release(lint_cmd)
    lint_cmd.set_defaults(run=cmd_lint)

    render_cmd = commands.add_parser("render", help="print a policy file in canonical form")
    render_cmd.add_argument("file")
    render_cmd.add_argument(
        "--keep-comments",
        action="store_true",
        help="write the file's comments again, before the statement or parameter they preceded",
    )
    render_cmd.set_defaults(run=cmd_render)

    explain = commands.add_parser(
        "explain", help="which rule a connection hits, and its effective settings"
    )
    explain.add_argument("file")
    explain.add_argument("--local-addr", default="127.0.0.1")
    explain.add_argument("--local-port", type=int, required=True)
    explain.add_argument("--remote-addr", default="192.0.2.1")
    explain.add_argument("--remote-port", type=int, default=50000)
    explain.add_argument("--job", default=None, help="job name of the application")
    explain.add_argument("--userid", default=None)
    explain.add_argument("--direction", choices=["inbound", "outbound"], default="inbound")
    _add_release(explain)
    explain.set_defaults(run=cmd_explain)

    summary = commands.add_parser("pasearch-summary", help="a table of a `pasearch -t` report")
    summary.add_argument("report")
    summary.set_defaults(run=cmd_pasearch_summary)

    zert = commands.add_parser("zert", help="the zERT records (SMF 119 subtypes 11, 12) of a dump")
    zert.add_argument("dump")
    zert.add_argument("--framing", choices=["auto", "rdw", "length-prefixed"], default="auto")
    zert.set_defaults(run=cmd_zert)

    impact = commands.add_parser("impact", help="who a policy change would break, per peer")
    impact.add_argument("old", help="the current policy file, or - for no AT-TLS policy yet")
    impact.add_argument("new", help="the candidate policy file")
    impact.add_argument(
        "--peers", required=True, help="CSV of the peers seen (see attls.impact.peers_csv)"
    )
    _add_release(impact)
    impact.set_defaults(run=cmd_impact)
    impact.error = _one_line_error(impact)  # type: ignore[method-assign,assignment]
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args, out, err)
    except (OSError, AttlsError) as error:
        print(f"error: {error}", file=err)
        return 2
    except Exception as error:
        print(f"error: internal error ({type(error).__name__}): {error}", file=err)
        return 2
    return status
