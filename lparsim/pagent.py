"""The Policy Agent of one LPAR: reads the file chain, installs AT-TLS policy per stack.

pagent.conf -> TcpImage -> image file -> TTLSConfig (and CommonTTLSConfig), read through
`attls.policy.pagent`. What this models (reference §1.1, §3.2, §5):

* Start and `F PAGENT,REFRESH` read every file and install each stack's policy. With FLUSH
  (the default) every policy object is deleted and installed again, so each rule and action
  gets new `Policy created` / `Policy updated` times and the stack a new TTLS instance id.
* `F PAGENT,UPDATE` and the TcpImage refresh interval install only what changed: unchanged
  objects keep their times, a changed object keeps `created` and gets a new `updated`.
  Nothing changed, nothing happens (and no message).
* The TTLS instance id is the epoch second of the install (one more than the previous id when
  two installs fall in the same second).
* A file that cannot be read or parsed keeps the installed policy: EZZ8434I for the stack, the
  problems in the PAGENT log file. A bad pagent.conf gives EZZ8779I. Success gives EZZ8771I,
  and EZZ4249I from the stack when the policy has no rules.
* A TcpImage pointing straight at a policy file (no TTLSConfig in between) installs nothing:
  `pasearch -t` then says `No policies retrieved`, and no EZZ8434I is issued.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from attls.errors import PolicySyntaxError
from attls.matching import RuleMatcher
from attls.policy.model import Policy, Statement
from attls.policy.pagent import (
    StackFiles,
    load_stack_policy,
    parse_pagent_config,
    resolve_stack,
)
from attls.releases import RELEASES
from attls.reports.from_policy import pasearch_report
from attls.reports.pasearch import PasearchReport
from lparsim.fsys import ZosFileSystem

ACTION_COLLECTIONS = ("group_actions", "environment_actions", "connection_actions")


def statement_closure(policy: Policy, statement: Statement) -> tuple[Statement, ...]:
    """The statement and every statement it names through `...Ref`, transitively."""
    found: list[Statement] = []
    seen: set[tuple[str, str]] = set()

    def walk(current: Statement) -> None:
        for field_name, param in type(current).params():
            value = getattr(current, field_name)
            if param.kind == "ref" and value is not None and param.target is not None:
                visit(param.target, value)
            elif param.kind == "refs" and param.target is not None:
                for name in value:
                    visit(param.target, name)
            elif param.kind == "block" and value is not None:
                walk(value)
            elif param.kind == "blocks":
                for item in value:
                    walk(item)

    def visit(collection: str, name: str) -> None:
        if (collection, name) in seen:
            return
        seen.add((collection, name))
        target = policy.collection(collection).get(name)
        if target is not None:
            found.append(target)
            walk(target)

    walk(statement)
    return (statement, *found)


def content_keys(policy: Policy) -> dict[tuple[str, str], tuple[Statement, ...]]:
    """("rule"|"action", name) -> the statements that make up that object."""
    keys: dict[tuple[str, str], tuple[Statement, ...]] = {}
    for name, rule in policy.rules.items():
        keys[("rule", name)] = statement_closure(policy, rule)
    for collection in ACTION_COLLECTIONS:
        for name, action in policy.collection(collection).items():
            keys[("action", name)] = statement_closure(policy, action)
    return keys


@dataclass
class Installed:
    """A policy installed in one stack."""

    stack: str
    policy: Policy
    matcher: RuleMatcher
    instance_id: int
    installed_at: dt.datetime
    keys: dict[tuple[str, str], tuple[Statement, ...]]
    stamps: dict[tuple[str, str], tuple[dt.datetime, dt.datetime]]
    generation: int
    _reports: dict[str, PasearchReport] = field(default_factory=dict, repr=False)

    @property
    def has_rules(self) -> bool:
        return bool(self.policy.rules)

    def report(self, release: str) -> PasearchReport:
        """The pasearch report of this install (header date and time as of the install)."""
        report = self._reports.get(release)
        if report is None:

            def times(kind: str, name: str) -> tuple[dt.datetime, dt.datetime]:
                created, updated = self.stamps.get((kind, name), (self.installed_at,) * 2)
                # pasearch prints local time.
                return created.astimezone(), updated.astimezone()

            report = pasearch_report(
                self.policy,
                image=self.stack,
                instance_id=self.instance_id,
                installed_at=self.installed_at.astimezone(),
                release=release,
                timestamps=times,
            )
            self._reports[release] = report
        return report

    def action_key(self, name: str | None) -> tuple[Statement, ...] | None:
        if name is None:
            return None
        return self.keys.get(("action", name))


@dataclass
class StackAgent:
    name: str
    installed: Installed | None = None
    digest: str | None = None  # of the files last read successfully
    refresh_seconds: int = 1800
    next_check: float = 0.0
    purge: bool = False
    last_error: str | None = None
    failed_digest: str | None = None  # files that failed last time: not re-reported each interval


@dataclass
class _Read:
    files: StackFiles
    texts: dict[str, str]
    flush: bool
    purge: bool


class Pagent:
    def __init__(
        self,
        *,
        system: str,
        procname: str,
        fs: ZosFileSystem,
        conf_path: str,
        log_path: str,
        stacks: list[str],
        console: Callable[[str, list[str]], None],
        clock: Callable[[], float],
        release: str | None = None,
    ) -> None:
        self.system = system
        # The z/OS release: its AT-TLS defaults and the suites System SSL implements apply to
        # the connections the data plane secures (attls.releases).
        self.release = release
        self.procname = procname
        self.fs = fs
        self.conf_path = conf_path
        self.log_path = log_path
        self.stacks = {name: StackAgent(name) for name in stacks}
        self.console = console  # (jobname, messages) -> written to the console log
        self.clock = clock
        self.fail_next = 0  # fault injection: REFRESH/UPDATE commands that fail
        self.generation = 0
        self.listeners: list[Callable[[str, Installed | None], None]] = []

    # --- logging ------------------------------------------------------------------------------

    def log(self, level: str, function: str, message: str) -> None:
        stamp = dt.datetime.now().astimezone()
        line = f"{stamp:%m/%d %H:%M:%S} {level:<8}:{self._code(level)}: {function}: {message}\n"
        self.fs.append_text(self.log_path, line)

    @staticmethod
    def _code(level: str) -> str:
        return {"SYSERR": "001", "OBJERR": "002", "WARNING": "008", "EVENT": "016"}.get(
            level, "064"
        )

    # --- commands -----------------------------------------------------------------------------

    def start(self) -> list[str]:
        messages = ["EZZ8431I PAGENT STARTING"]
        self.log("EVENT", "main", f"Policy Agent starting on {self.system}")
        messages += self._process("start")
        messages.append("EZZ8432I PAGENT INITIALIZATION COMPLETE")
        for stack in self.stacks.values():
            messages.append(f"EZD1586I PAGENT HAS INSTALLED ALL LOCAL POLICIES FOR {stack.name}")
        self.console(self.procname, messages)
        return messages

    def refresh(self) -> list[str]:
        """`F PAGENT,REFRESH`: read everything again and install it (FLUSH semantics)."""
        self.log("EVENT", "pagent_modify", "MODIFY REFRESH command received")
        messages = self._process("refresh")
        self.console(self.procname, messages)
        return messages

    def update(self) -> list[str]:
        """`F PAGENT,UPDATE`: install only what changed since the last read."""
        self.log("EVENT", "pagent_modify", "MODIFY UPDATE command received")
        messages = self._process("update")
        self.console(self.procname, messages)
        return messages

    def tick(self) -> list[str]:
        """Re-reads the files of every stack whose TcpImage refresh interval has passed."""
        now = self.clock()
        due = [s for s in self.stacks.values() if s.next_check and now >= s.next_check]
        if not due:
            return []
        messages = self._process("interval", only={s.name for s in due})
        if messages:
            self.console(self.procname, messages)
        return messages

    # --- processing ---------------------------------------------------------------------------

    def _read(self, path: str) -> str:
        return self.fs.read_text(path)

    def _process(self, mode: str, only: set[str] | None = None) -> list[str]:
        injected = False
        if mode in ("refresh", "update") and self.fail_next > 0:
            self.fail_next -= 1
            injected = True
        messages: list[str] = []
        try:
            main_text = self._read(self.conf_path)
            main = parse_pagent_config(main_text, source=self.conf_path)
        except PolicySyntaxError as error:
            for problem in error.problems:
                self.log("SYSERR", "read_config", f"{self.conf_path}: {problem}")
            self._schedule_all()
            return ["EZZ8779I PAGENT TCPIMAGE/PEPINSTANCE STATEMENTS CONTAIN ERRORS"]
        except OSError as error:
            self.log("SYSERR", "read_config", f"cannot open {self.conf_path}: {error.strerror}")
            self._schedule_all()
            return ["EZZ8779I PAGENT TCPIMAGE/PEPINSTANCE STATEMENTS CONTAIN ERRORS"]
        for stack in self.stacks.values():
            if only is not None and stack.name not in only:
                continue
            messages += self._process_stack(stack, main, main_text, mode, injected)
        return messages

    def _schedule_all(self) -> None:
        now = self.clock()
        for stack in self.stacks.values():
            stack.next_check = now + stack.refresh_seconds

    def _process_stack(
        self, stack: StackAgent, main: Any, main_text: str, mode: str, injected: bool
    ) -> list[str]:
        name = stack.name
        error_message = f"EZZ8434I PAGENT POLICY DEFINITIONS CONTAIN ERRORS FOR {name} : TTLS"
        image = main.image(name)
        if image is not None:
            stack.refresh_seconds = image.effective_refresh_seconds
        stack.next_check = self.clock() + stack.refresh_seconds
        try:
            read = self._read_stack(main, main_text, name)
        except KeyError as error:
            self.log("WARNING", "read_config", str(error.args[0]))
            if stack.installed is not None and stack.purge:
                self._install(stack, None)
                return [f"EZZ8773I PAGENT POLICIES PURGED FOR {name}: TTLS"]
            return []
        except PolicySyntaxError as error:
            for problem in error.problems:
                self.log("SYSERR", "read_image_config", str(problem))
            stack.last_error = str(error)
            return [error_message]
        except OSError as error:
            self.log(
                "SYSERR", "read_image_config", f"cannot open {error.filename}: {error.strerror}"
            )
            stack.last_error = f"cannot open {error.filename}"
            return [error_message]
        digest = hashlib.sha256(repr(sorted(read.texts.items())).encode()).hexdigest()
        if mode == "interval" and digest in (stack.digest, stack.failed_digest):
            return []
        if mode == "update" and digest == stack.digest and not injected:
            return [f"EZZ8771I PAGENT CONFIG POLICY PROCESSING COMPLETE FOR {name} : TTLS"]
        if injected:
            self.log(
                "SYSERR",
                "read_policy",
                f"{read.files.policy_file or '(no policy file)'}: I/O error reading the policy "
                "file (injected fault)",
            )
            stack.last_error = "injected refresh failure"
            return [error_message]
        stack.purge = read.purge
        if read.files.policy_file is None and read.files.common_policy_file is None:
            # TcpImage -> a file with no TTLSConfig: nothing to install for TTLS.
            self.log(
                "WARNING",
                "read_image_config",
                f"no TTLSConfig for {name}"
                + (f" in {read.files.image_file}" if read.files.image_file else ""),
            )
            stack.digest = digest
            stack.last_error = None
            if stack.installed is not None:
                self._install(stack, None)
            return []
        try:
            policy = _load(read)
        except PolicySyntaxError as error:
            for problem in error.problems:
                self.log("OBJERR", "read_policy", str(problem))
            stack.last_error = str(error)
            stack.failed_digest = digest
            return [error_message]
        flush = read.flush and mode in ("start", "refresh")
        self._install(stack, policy, flush=flush)
        stack.digest = digest
        stack.failed_digest = None
        stack.last_error = None
        count = len(policy.rules)
        self.log("EVENT", "install_policy", f"{name}: installed {count} TTLS rules ({mode})")
        messages = [f"EZZ8771I PAGENT CONFIG POLICY PROCESSING COMPLETE FOR {name} : TTLS"]
        if count == 0:
            messages.append(f"EZZ4249I {name} INSTALLED TTLS POLICY HAS NO RULES")
        return messages

    def _read_stack(self, main: Any, main_text: str, name: str) -> _Read:
        texts: dict[str, str] = {self.conf_path: main_text}

        def read(path: str) -> str:
            if path not in texts:
                texts[path] = self._read(path)
            return texts[path]

        files = resolve_stack(main, name, read)
        flush, purge = True, False
        image = main.image(name)
        if image is not None:
            flush = image.flush if image.flush is not None else flush
            purge = image.purge if image.purge is not None else purge
        ttls = main.ttls_config
        if files.image_file is not None and files.policy_file is not None:
            ttls = parse_pagent_config(read(files.image_file), source=files.image_file).ttls_config
        if ttls is not None:
            flush = ttls.flush if ttls.flush is not None else flush
            purge = ttls.purge if ttls.purge is not None else purge
        for path in files.policy_files:
            read(path)
        return _Read(files, texts, flush, purge)

    def _install(self, stack: StackAgent, policy: Policy | None, *, flush: bool = True) -> None:
        self.generation += 1
        if policy is None:
            stack.installed = None
        else:
            now = dt.datetime.now(dt.UTC)
            previous = stack.installed
            instance_id = int(now.timestamp())
            if previous is not None and instance_id <= previous.instance_id:
                instance_id = previous.instance_id + 1
            keys = content_keys(policy)
            stamps: dict[tuple[str, str], tuple[dt.datetime, dt.datetime]] = {}
            for key, content in keys.items():
                if flush or previous is None or key not in previous.stamps:
                    stamps[key] = (now, now)
                elif previous.keys.get(key) == content:
                    stamps[key] = previous.stamps[key]
                else:
                    stamps[key] = (previous.stamps[key][0], now)
            stack.installed = Installed(
                stack=stack.name,
                policy=policy,
                matcher=RuleMatcher(
                    policy, release=self.release if self.release in RELEASES else None
                ),
                instance_id=instance_id,
                installed_at=now,
                keys=keys,
                stamps=stamps,
                generation=self.generation,
            )
        for listener in self.listeners:
            listener(stack.name, stack.installed)

    def installed(self, stack: str) -> Installed | None:
        agent = self.stacks.get(stack.upper())
        return agent.installed if agent is not None else None

    def iter_installed(self) -> Iterator[Installed]:
        for stack in self.stacks.values():
            if stack.installed is not None:
                yield stack.installed


def _load(read: _Read) -> Policy:
    return load_stack_policy(read.files, lambda path: read.texts[path])
