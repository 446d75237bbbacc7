"""What an LPAR answers: z/OS UNIX shell commands (over SSH) and console commands (z/OSMF).

Shell: `pasearch -t [-p image] [-f rule]`, `netstat -x [GROUP | CONN [connid] [DETAIL]]
[-p stack]`, `netstat -a [-X NOTTLSPOLICY] [-p stack]`, `cat`, `ls`, `echo` and a few
harmless others; `;` and `&&` chain commands; an unknown command is
`<name>: FSUM7351 not found` with exit status 127, as the z/OS shell says it.

Console: `F PAGENT,REFRESH` / `F PAGENT,UPDATE`, `D TCPIP,[proc],NETSTAT,TTLS[,GROUP]`,
`D TCPIP,[proc],NETSTAT,TTLS,CONN=connid[,DETAIL]`, `D TCPIP,[proc],NETSTAT,ALLCONN
[,CONNTYPE=NOTTLSPOLICY]` (NETSTAT may be written N), `D T`.

The reports are rendered with `attls.reports` from the live connection table and the
installed policy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import posixpath
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from attls.reports.netstat import (
    NOTTLSPOLICY,
    AllConnRow,
    NetstatAllConnReport,
    NetstatGroupReport,
    NetstatTtlsReport,
    SocketAddr,
    TtlsConnection,
    TtlsGroupRow,
    render_netstat_allconn,
    render_netstat_group,
    render_netstat_ttls,
)
from attls.reports.pasearch import (
    NO_POLICIES,
    Field,
    Node,
    PasearchRule,
    TtlsAction,
    render_pasearch,
)
from lparsim.dataplane import ConnRecord, StackRuntime, cipher_code, sec_level
from lparsim.fsys import ZosPathError, normalise
from lparsim.releases import netstat_release, pasearch_release

if TYPE_CHECKING:
    from lparsim.lpar import Lpar


@dataclass
class Result:
    stdout: str = ""
    stderr: str = ""
    status: int = 0


class UsageError(Exception):
    pass


# --- reports -------------------------------------------------------------------------------------


def _stack_name(lpar: Lpar, requested: str | None) -> str | None:
    stack = lpar.config.stack(requested)
    return stack.name if stack is not None else None


def pasearch_text(lpar: Lpar, stack: str, rule: str | None = None) -> str:
    installed = lpar.pagent.installed(stack)
    if installed is None or not installed.has_rules:
        return NO_POLICIES + "\n"
    report = installed.report(pasearch_release(lpar.config.release))
    now = dt.datetime.now().astimezone()
    report = dataclasses.replace(report, date=f"{now:%m/%d/%Y}", time=f"{now:%H:%M:%S}")
    if rule is not None:
        rules = [r for r in report.rules if r.name == rule]
        if not rules:
            return NO_POLICIES + "\n"
        report = dataclasses.replace(report, rules=rules)
    return render_pasearch(report)


def _rule_detail(rule: PasearchRule) -> tuple[Node, ...]:
    condition = rule.condition
    nodes: list[Node] = [
        Field("Priority", str(rule.priority)),
        Field("LocalPortFrom", str(condition.local_port_from)),
        Field("LocalPortTo", str(condition.local_port_to)),
        Field("RemotePortFrom", str(condition.remote_port_from)),
        Field("RemotePortTo", str(condition.remote_port_to)),
    ]
    if condition.job_name:
        nodes.append(Field("JobName", condition.job_name))
    if condition.user_id:
        nodes.append(Field("UserId", condition.user_id))
    nodes.append(Field("ServiceDirection", condition.direction))
    return tuple(nodes)


def _details(
    lpar: Lpar, record: ConnRecord
) -> tuple[tuple[Node, ...] | None, tuple[TtlsAction, ...]]:
    if record.installed is None or record.rule is None:
        return None, ()
    report = record.installed.report(pasearch_release(lpar.config.release))
    rule = next((r for r in report.rules if r.name == record.rule), None)
    if rule is None:
        return None, ()
    return _rule_detail(rule), tuple(rule.action_details)


def _ttls_connection(lpar: Lpar, record: ConnRecord, detail: bool) -> TtlsConnection:
    code, name = cipher_code(record.cipher if record.secured_by == "at-tls" else None)
    rule_detail, actions = _details(lpar, record) if detail else (None, ())
    secured = record.secured_by == "at-tls"
    return TtlsConnection(
        conn_id=f"{record.conn_id:08X}",
        job_name=record.jobname,
        local_socket=SocketAddr(*record.local),
        remote_socket=SocketAddr(*record.remote),
        sec_level=sec_level(record.protocol) if secured else None,
        cipher_code=code,
        cipher_name=name,
        cert_user_id=record.cert_user_id,
        map_type="Primary",
        fips140="On" if record.fips140 else "Off",
        rule=record.rule,
        group_action=record.group_action,
        env_action=record.env_action,
        conn_action=record.conn_action,
        rule_detail=rule_detail,
        action_details=actions,
    )


def _now_time() -> str:
    return f"{dt.datetime.now().astimezone():%H:%M:%S}"


def netstat_ttls_text(
    lpar: Lpar, runtime: StackRuntime, conn_id: int | None = None, detail: bool = False
) -> str:
    records = [
        record
        for record in runtime.conns.values()
        if record.mapped and (conn_id is None or record.conn_id == conn_id)
    ]
    records.sort(key=lambda record: record.conn_id)
    report = NetstatTtlsReport(
        release=netstat_release(lpar.config.release),
        tcpip_name=runtime.name,
        time=_now_time(),
        connections=[_ttls_connection(lpar, record, detail) for record in records],
    )
    return render_netstat_ttls(report, detail=detail)


def _group_rows(runtime: StackRuntime) -> list[TtlsGroupRow]:
    counts: dict[int, int] = {}
    for record in runtime.conns.values():
        if record.group_id is not None and record.ttls_enabled:
            counts[record.group_id] = counts.get(record.group_id, 0) + 1
    rows = [
        TtlsGroupRow(group.name, f"{group.group_id:08X}", counts.get(group.group_id, 0))
        for group in runtime.groups.values()
    ]
    rows.sort(key=lambda row: row.group_id)
    return rows


def netstat_group_text(lpar: Lpar, runtime: StackRuntime) -> str:
    report = NetstatGroupReport(
        release=netstat_release(lpar.config.release),
        tcpip_name=runtime.name,
        time=_now_time(),
        groups=_group_rows(runtime),
    )
    return render_netstat_group(report)


def _allconn_rows(runtime: StackRuntime, only_not_covered: bool) -> list[AllConnRow]:
    rows = []
    for record in [*runtime.listeners, *sorted(runtime.conns.values(), key=lambda r: r.conn_id)]:
        if only_not_covered and record.mapped:
            continue
        rows.append(
            AllConnRow(
                user_id=record.jobname,
                conn_id=f"{record.conn_id:08X}",
                state=record.state,
                local_socket=SocketAddr(*record.local),
                foreign_socket=SocketAddr(*record.remote),
            )
        )
    return rows


def netstat_allconn_text(lpar: Lpar, runtime: StackRuntime, only_not_covered: bool) -> str:
    report = NetstatAllConnReport(
        release=netstat_release(lpar.config.release),
        tcpip_name=runtime.name,
        time=_now_time(),
        rows=_allconn_rows(runtime, only_not_covered),
        filter=NOTTLSPOLICY if only_not_covered else None,
    )
    return render_netstat_allconn(report)


# --- shell ----------------------------------------------------------------------------------------

PASEARCH_USAGE = "Usage: pasearch [-A | -a] [-t] [-p image] [-f policy_name]\n"
NETSTAT_USAGE = (
    "Usage: netstat [-x [GROUP | CONN [connid] [DETAIL]]] [-a [-X NOTTLSPOLICY]] [-p tcpname]\n"
)


def _pasearch(lpar: Lpar, args: list[str]) -> Result:
    image: str | None = None
    rule: str | None = None
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-t", "-A", "-a", "-c"):
            pass
        elif arg in ("-p", "-f"):
            if index + 1 >= len(args):
                return Result(
                    stderr=f"pasearch: option {arg} requires a value\n{PASEARCH_USAGE}", status=1
                )
            index += 1
            if arg == "-p":
                image = args[index]
            else:
                rule = args[index]
        elif arg.startswith("-p") and len(arg) > 2:
            image = arg[2:]
        elif arg.startswith("-f") and len(arg) > 2:
            rule = arg[2:]
        else:
            return Result(stderr=f"pasearch: invalid option {arg}\n{PASEARCH_USAGE}", status=1)
        index += 1
    stack = _stack_name(lpar, image)
    if stack is None:
        return Result(stdout=NO_POLICIES + "\n")
    return Result(stdout=pasearch_text(lpar, stack, rule))


def _affinity_error(name: str) -> Result:
    return Result(
        stderr=f"EZZ2377I Could not establish affinity with {name.upper()} (1011/11B3005A) - "
        "can not provide the requested option information\n",
        status=1,
    )


def _netstat(lpar: Lpar, args: list[str]) -> Result:
    report: str | None = None
    words: list[str] = []
    stack_name: str | None = None
    conn_filter: str | None = None
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-x", "-a"):
            if report is not None and report != arg:
                return Result(stderr=f"netstat: give one report option\n{NETSTAT_USAGE}", status=1)
            report = arg
        elif arg in ("-p", "-X"):
            if index + 1 >= len(args):
                return Result(
                    stderr=f"netstat: option {arg} requires a value\n{NETSTAT_USAGE}", status=1
                )
            index += 1
            if arg == "-p":
                stack_name = args[index]
            else:
                conn_filter = args[index]
        elif arg.startswith("-"):
            return Result(
                stderr=f"netstat: option {arg} is not supported here\n{NETSTAT_USAGE}", status=1
            )
        else:
            words.append(arg)
        index += 1
    if report is None:
        return Result(stderr=f"netstat: give -x or -a\n{NETSTAT_USAGE}", status=1)
    stack = _stack_name(lpar, stack_name)
    if stack is None:
        return _affinity_error(stack_name or "")
    runtime = lpar.dataplane.stacks[stack]
    if report == "-a":
        if words:
            return Result(
                stderr=f"netstat: unexpected {' '.join(words)}\n{NETSTAT_USAGE}", status=1
            )
        if conn_filter is not None and conn_filter.upper() != NOTTLSPOLICY:
            return Result(
                stderr=f"netstat: -X {conn_filter} is not supported; use NOTTLSPOLICY\n", status=1
            )
        return Result(stdout=netstat_allconn_text(lpar, runtime, conn_filter is not None))
    if conn_filter is not None:
        return Result(stderr="netstat: -X is valid only with -a\n", status=1)
    upper = [word.upper() for word in words]
    if not upper or upper == ["GROUP"]:
        return Result(stdout=netstat_group_text(lpar, runtime))
    if upper[0] != "CONN":
        return Result(stderr=f"netstat: -x {words[0]} is not supported\n{NETSTAT_USAGE}", status=1)
    rest = upper[1:]
    detail = "DETAIL" in rest
    rest = [word for word in rest if word != "DETAIL"]
    conn_id: int | None = None
    if rest:
        try:
            conn_id = int(rest[0], 16)
        except ValueError:
            return Result(stderr=f"netstat: {rest[0]} is not a connection id\n", status=1)
        if len(rest) > 1:
            return Result(
                stderr=f"netstat: unexpected {' '.join(rest[1:])}\n{NETSTAT_USAGE}", status=1
            )
    return Result(stdout=netstat_ttls_text(lpar, runtime, conn_id, detail))


def _cat(lpar: Lpar, args: list[str], cwd: str) -> Result:
    if not args:
        return Result()
    out: list[str] = []
    err: list[str] = []
    for arg in args:
        path = normalise(posixpath.join(cwd, arg))
        try:
            out.append(lpar.fs.read_text(path))
        except ZosPathError as error:
            err.append(f"cat: {arg}: {error.strerror}\n")
    return Result("".join(out), "".join(err), 1 if err else 0)


def _ls(lpar: Lpar, args: list[str], cwd: str) -> Result:
    paths = [a for a in args if not a.startswith("-")] or [cwd]
    long = any(a.startswith("-") and "l" in a for a in args)
    out: list[str] = []
    err: list[str] = []
    for arg in paths:
        path = normalise(posixpath.join(cwd, arg))
        try:
            entries = lpar.fs.list(path) if lpar.fs.is_dir(path) else [lpar.fs.stat(path)]
        except ZosPathError as error:
            err.append(f"ls: {arg}: {error.strerror}\n")
            continue
        for entry in entries:
            if long:
                kind = "d" if entry.is_dir else "-"
                stamp = dt.datetime.fromtimestamp(entry.mtime)
                out.append(
                    f"{kind}rw-r--r--   1 TCPIP    SYS1  {entry.size:>10} "
                    f"{stamp:%b %d %H:%M} {entry.name}\n"
                )
            else:
                out.append(entry.name + "\n")
    return Result("".join(out), "".join(err), 1 if err else 0)


_HARMLESS = {"true": 0, "false": 1, ":": 0}


MERGE_STDERR = "2>&1"


def _split_commands(line: str) -> list[tuple[str, list[str]]]:
    """[(operator before, words)]; the operator is '', ';', '&&' or '||'.

    `2>&1` stays in the words as one token (stderr into stdout); other redirections and
    pipes are refused.
    """
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    tokens = list(lexer)
    commands: list[tuple[str, list[str]]] = []
    operator = ""
    words: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in (";", "&&", "||"):
            if words:
                commands.append((operator, words))
            operator, words = token, []
        elif (
            token == ">&" and words and words[-1] == "2" and tokens[index + 1 : index + 2] == ["1"]
        ):
            words[-1] = MERGE_STDERR
            index += 1
        elif token and set(token) <= set(";&|<>"):
            raise UsageError(f"sh: the operator {token} is not supported here")
        else:
            words.append(token)
        index += 1
    if words:
        commands.append((operator, words))
    return commands


def run_shell(lpar: Lpar, line: str, user: str) -> Result:
    """Runs one command line as the z/OS UNIX shell would, for the commands we have."""
    home = f"/u/{user.lower()}"
    try:
        commands = _split_commands(line)
    except (ValueError, UsageError) as error:
        return Result(stderr=f"{error}\n", status=2)
    out: list[str] = []
    err: list[str] = []
    status = 0
    for operator, words in commands:
        if (operator == "&&" and status != 0) or (operator == "||" and status == 0):
            continue
        merge = MERGE_STDERR in words
        result = _run_one(lpar, [word for word in words if word != MERGE_STDERR], user, home)
        out.append(result.stdout + (result.stderr if merge else ""))
        if not merge:
            err.append(result.stderr)
        status = result.status
    return Result("".join(out), "".join(err), status)


def _run_one(lpar: Lpar, words: list[str], user: str, home: str) -> Result:
    # Leading VAR=value assignments (e.g. LIBPATH=/usr/lib pasearch -t) change nothing here.
    while words and "=" in words[0] and not words[0].startswith("="):
        words = words[1:]
    if not words:
        return Result()
    name, args = words[0], words[1:]
    if name == "pasearch":
        return _pasearch(lpar, args)
    if name == "netstat":
        return _netstat(lpar, args)
    if name == "cat":
        return _cat(lpar, args, home)
    if name == "ls":
        return _ls(lpar, args, home)
    if name == "echo":
        return Result(" ".join(args) + "\n")
    if name in ("export", "unset", "cd", "set"):
        return Result()
    if name in _HARMLESS:
        return Result(status=_HARMLESS[name])
    if name == "hostname":
        return Result(f"{lpar.name.lower()}.lparsim.test\n")
    if name == "uname":
        return Result("OS/390\n" if "-a" not in args else f"OS/390 {lpar.name} 29.00 03 8561\n")
    if name in ("whoami", "logname"):
        return Result(user.upper() + "\n")
    if name == "pwd":
        return Result(home + "\n")
    if name == "date":
        return Result(f"{dt.datetime.now().astimezone():%a %b %d %H:%M:%S %Z %Y}\n")
    return Result(stderr=f"{name}: FSUM7351 not found\n", status=127)


# --- console --------------------------------------------------------------------------------------


def _console_report(lpar: Lpar, stack: str, text: str, count: int) -> list[str]:
    """The console form of a netstat report: EZD0101I header, upper case, trailer."""
    lines = [line.rstrip() for line in text.splitlines()[1:] if line.strip()]
    header = (
        f"EZD0101I NETSTAT CS {netstat_release(lpar.config.release)} {stack} "
        f"{lpar.next_message_number()}"
    )
    return [
        header,
        *(line.upper() for line in lines),
        f"{count} OF {count} RECORDS DISPLAYED",
        "END OF THE REPORT",
    ]


def console(lpar: Lpar, command: str) -> list[str]:
    """The solicited response to an MVS console command, one string per line."""
    text = command.strip()
    upper = text.upper()
    verb, _, operands = upper.partition(" ")
    operands = operands.strip()
    if verb in ("F", "MODIFY"):
        job, _, action = operands.partition(",")
        if job != lpar.config.pagent_procname:
            return [f"IEE341I {job or '?'} NOT ACTIVE"]
        action = action.strip()
        if action == "REFRESH":
            return lpar.pagent.refresh()
        if action == "UPDATE":
            return lpar.pagent.update()
        return [f"IEE305I {action or 'MODIFY'} COMMAND INVALID"]
    if verb in ("D", "DISPLAY"):
        if operands in ("T", "TIME"):
            now = dt.datetime.now().astimezone()
            utc = now.astimezone(dt.UTC)
            return [
                f"IEE136I LOCAL: TIME={now:%H.%M.%S} DATE={now:%Y.%j}  "
                f"UTC: TIME={utc:%H.%M.%S} DATE={utc:%Y.%j}"
            ]
        if operands.startswith("TCPIP,"):
            return _display_tcpip(lpar, operands.split(",")[1:])
    return [f"IEE305I {verb} COMMAND INVALID"]


_SYNTAX = "IEE305I TCPIP COMMAND INVALID"


def _display_tcpip(lpar: Lpar, parts: list[str]) -> list[str]:
    if len(parts) < 3 or parts[1] not in ("NETSTAT", "N"):
        return [_SYNTAX]
    stack = _stack_name(lpar, parts[0] or None)
    if stack is None:
        return [f"IEE341I {parts[0]} NOT ACTIVE"]
    runtime = lpar.dataplane.stacks[stack]
    report, options = parts[2], parts[3:]
    if report == "TTLS":
        conn_id: int | None = None
        detail = False
        for option in options:
            if option.startswith("CONN="):
                try:
                    conn_id = int(option[5:], 16)
                except ValueError:
                    return [_SYNTAX]
            elif option == "DETAIL":
                detail = True
            elif option != "GROUP":
                return [_SYNTAX]
        if conn_id is None and not detail:
            rows = _group_rows(runtime)
            return _console_report(lpar, stack, netstat_group_text(lpar, runtime), len(rows))
        text = netstat_ttls_text(lpar, runtime, conn_id, detail)
        count = sum(1 for line in text.splitlines() if line.startswith("ConnID:"))
        return _console_report(lpar, stack, text, count)
    if report in ("ALLCONN", "ALLC"):
        only = False
        for option in options:
            if option.replace(" ", "") in ("CONNTYPE=NOTTLSPOLICY", "CONNT=NOTTLSP"):
                only = True
            else:
                return [_SYNTAX]
        count = len(_allconn_rows(runtime, only))
        return _console_report(lpar, stack, netstat_allconn_text(lpar, runtime, only), count)
    return [_SYNTAX]
