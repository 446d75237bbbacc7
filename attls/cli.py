"""`python -m attls`: the domain library at the command line, without the portal.

    python -m attls lint FILE [--profile nist|aead-ecdhe] [--json]
    python -m attls render FILE
    python -m attls explain FILE --local-port 23 --job TN3270A [--direction inbound] ...
    python -m attls pasearch-summary REPORT
    python -m attls zert DUMP [--framing auto|rdw|length-prefixed]
    python -m attls impact OLD NEW --peers PEERS.csv

FILE and REPORT may be `-` for standard input. Exit status: 0 when all is well, 1 when
lint finds errors (or explain finds no rule), 2 for input that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from attls import ciphers
from attls.effective import EffectiveSettings
from attls.errors import PolicySyntaxError, ReportParseError
from attls.lint import Finding, Profile, lint
from attls.matching import Connection, RuleMatcher
from attls.policy import Policy, parse_policy, render_policy
from attls.reports.pasearch import parse_pasearch, pasearch_summary

PROFILES = {
    "nist": Profile.nist_800_52r2,
    "aead-ecdhe": Profile.tls12_13_aead_ecdhe,
}


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _load_policy(path: str, err: TextIO) -> Policy | None:
    try:
        return parse_policy(_read(path), source=path)
    except PolicySyntaxError as error:
        for problem in error.problems:
            print(f"{path}:{problem.line}:{problem.column}: error: {problem.message}", file=err)
        print(f"{path}: {len(error.problems)} problem(s); nothing was checked further", file=err)
        return None


def _finding_line(path: str, finding: Finding) -> str:
    where = f"{finding.location.line}:{finding.location.column}:" if finding.location else ""
    return f"{path}:{where} {finding.severity}: {finding.message} [{finding.code}]"


def cmd_lint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    policy = _load_policy(args.file, err)
    if policy is None:
        return 2
    profile = PROFILES[args.profile]() if args.profile else None
    findings = lint(policy, profile)
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
        print(
            f"{args.file}: {len(policy.rules)} rule(s), {counts['error']} error(s),"
            f" {counts['warning']} warning(s)",
            file=out,
        )
    return 1 if any(f.severity == "error" for f in findings) else 0


def cmd_render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    policy = _load_policy(args.file, err)
    if policy is None:
        return 2
    out.write(render_policy(policy))
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
    lines.append(f"  ciphers               from {settings.ciphers_from}")
    for code in settings.v3_cipher_suites:
        suite = ciphers.get(code)
        name = suite.iana_name if suite else "(not in the registry)"
        lines.append(f"    {code}  {name}")
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
    matcher = RuleMatcher(policy)
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


def cmd_impact(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Who the change from OLD (`-`: no AT-TLS policy yet) to NEW would break; every failure 2."""
    from attls.impact import ImpactInputError, Verdict, predict
    from attls.impact.peers_csv import read_peers_csv

    try:
        old = None if args.old == "-" else parse_policy(_read(args.old), source=args.old)
        new = parse_policy(_read(args.new), source=args.new)
        with open(args.peers, encoding="utf-8", newline="") as handle:
            peers = read_peers_csv(handle.read())
        prediction = predict(old, new, peers, release=args.release)
    except PolicySyntaxError as error:
        first = error.problems[0]
        print(f"{error.source}:{first.line}:{first.column}: error: {first.message}", file=err)
        return 2
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
            f" job {peer.job or '-'}  rule {peer.rule or '-'}: {peer.reason}",
            file=out,
        )
    for service in prediction.services:
        counts = ", ".join(f"{v.value} {n}" for v, n in service.counts.items() if n)
        print(f"service {service.service}: {counts or 'no-data (no peer observed)'}", file=out)
    total = prediction.counts
    print("total: " + ", ".join(f"{v.value} {total[v]}" for v in Verdict), file=out)
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
    lint_cmd.set_defaults(run=cmd_lint)

    render_cmd = commands.add_parser("render", help="print a policy file in canonical form")
    render_cmd.add_argument("file")
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
    impact.add_argument("--release", help="z/OS release whose defaults apply (e.g. 3.1)")
    impact.set_defaults(run=cmd_impact)
    impact.error = _one_line_error(impact)  # type: ignore[method-assign,assignment]
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args, out, err)
    except OSError as error:
        print(f"error: {error}", file=err)
        return 2
    return status
