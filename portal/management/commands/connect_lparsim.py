"""`manage.py connect_lparsim <workdir>/lparsim-state.json`: point the portal at a running lparsim.

Creates or updates one LparConnection per LPAR of the simulator that exists in the design
(policies.models.Lpar, by name); other LPARs are reported and skipped. Everything comes from
the files the simulator writes, read as data (the portal never imports lparsim):

- `lparsim-state.json`: each LPAR's address, z/OSMF and SSH ports and services (z/OS port
  -> host port, for the active probe), the CA file, the generated user keys;
- `<workdir>/<LPAR>/ssh_host_ed25519_key.pub`: the host key the simulator presents, pinned;
- `<workdir>/pki/ca-cert.pem` (the state's `ca_file`): the CA z/OSMF's certificate chains to;
- `<workdir>/keys/<user>_ed25519`: the user's private key, for SSH;
- the simulator's YAML (`--config`, the reference scenario by default): the user's password
  for z/OSMF, which the state file does not carry, and each LPAR's PAGENT procedure name.

Secrets are stored encrypted (fleet.secrets) and never printed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from fleet.models import LparConnection, Transport
from fleet.secrets import encrypt
from policies.models import Lpar
from portal.seed import SCENARIO

STATE_FILE = "lparsim-state.json"
HOST_KEY_FILE = "ssh_host_ed25519_key"


def fingerprint(public_key_line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a public key line."""
    blob = base64.b64decode(public_key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def read_host_key(directory: Path) -> str:
    """The LPAR's SSH host public key, `<type> <base64>`, from the simulator's key files."""
    public = directory / f"{HOST_KEY_FILE}.pub"
    if public.is_file():
        fields = public.read_text(encoding="utf-8").split()
        if len(fields) >= 2:
            return f"{fields[0]} {fields[1]}"
    private = directory / HOST_KEY_FILE
    if not private.is_file():
        raise CommandError(f"no SSH host key in {directory} (is this the simulator's workdir?)")
    key = serialization.load_ssh_private_key(private.read_bytes(), password=None)
    line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return line.decode().strip()


def read_state(path: Path) -> dict[str, Any]:
    if path.is_dir():
        path = path / STATE_FILE
    if not path.is_file():
        raise CommandError(f"{path}: no lparsim state file (is lparsim running?)")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise CommandError(f"{path}: not a lparsim state file ({error})") from None
    if not isinstance(state, dict) or not isinstance(state.get("lpars"), dict):
        raise CommandError(f"{path}: not a lparsim state file (no 'lpars')")
    pid = state.get("pid")
    if isinstance(pid, int) and pid > 0:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise CommandError(
                f"{path}: lparsim (pid {pid}) is not running; the state file is stale"
            ) from None
        except PermissionError:
            pass  # alive, owned by someone else
    state["_path"] = path
    return state


class Command(BaseCommand):
    help = "Create or update the LparConnections of a running lparsim from its state file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("state", type=Path, help=f"lparsim's {STATE_FILE} (or its workdir)")
        parser.add_argument(
            "--config",
            type=Path,
            default=SCENARIO,
            help="the simulator's YAML, for the user's password (default: the reference scenario)",
        )
        parser.add_argument("--user", help="the z/OS user (default: the one with a generated key)")
        parser.add_argument(
            "--transport",
            choices=[choice.value for choice in Transport],
            help="file transport (default: keep it; z/OSMF for a new connection)",
        )
        parser.add_argument(
            "--zert",
            action="store_true",
            help="switch zERT collection on for every connection (the demo does: without"
            " zERT's records the change-impact prediction has no peer to judge before AT-TLS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        state = read_state(options["state"])
        workdir: Path = state["_path"].parent
        config = self._config(options["config"], workdir)
        username, key_path = self._user(state, options["user"])
        password = self._password(config, username)
        private_key = key_path.read_text(encoding="utf-8") if key_path else ""
        ca_file = Path(str(state.get("ca_file") or workdir / "pki" / "ca-cert.pem"))
        if not ca_file.is_file():
            raise CommandError(f"{ca_file}: the simulator's CA file is missing")
        ca_bundle = ca_file.read_text(encoding="utf-8")

        if not password:
            self.stderr.write(
                f"warning: {options['config']} has no password for {username}; "
                "z/OSMF will refuse it (SSH uses the key)"
            )
        secrets = " and ".join(
            what for what, value in (("password", password), ("key", private_key)) if value
        )
        with transaction.atomic():
            for name, lpar_state in sorted(state["lpars"].items()):
                lpar = Lpar.objects.filter(name__iexact=name).first()
                if lpar is None:
                    self.stdout.write(f"{name}: skipped, not an LPAR of the design")
                    continue
                host_key = read_host_key(workdir / name)
                probe_ports = self._probe_ports(lpar_state)
                partners = self._partner_ports(state)
                if partners:
                    # Where the TLS pre-check reaches each partner (fleet/impact/predict.py).
                    probe_ports["partners"] = partners
                connection = LparConnection.objects.filter(lpar=lpar).first()
                created = connection is None
                if connection is None:
                    connection = LparConnection(lpar=lpar, transport=Transport.ZOSMF)
                if options["transport"]:
                    connection.transport = options["transport"]
                connection.host = str(lpar_state.get("address") or "127.0.0.1")
                connection.zosmf_port = int(lpar_state["zosmf"])
                connection.ssh_port = int(lpar_state["ssh"]) if lpar_state.get("ssh") else None
                connection.username = username
                connection.password_encrypted = encrypt(password)
                connection.ssh_key_encrypted = encrypt(private_key)
                connection.ca_bundle = ca_bundle
                connection.ssh_host_key = host_key
                connection.probe_ports = probe_ports
                if options["zert"]:
                    connection.zert_enabled = True
                procname = self._procname(config, name)
                if procname:
                    connection.pagent_procname = procname
                connection.full_clean()
                connection.save()
                mapped = sum(len(ports) for ports in probe_ports.values())
                self.stdout.write(
                    f"{lpar.name}: {'created' if created else 'updated'} connection "
                    f"(files via {connection.transport}; z/OSMF https://{connection.host}:"
                    f"{connection.zosmf_port}; SSH {connection.host}:{connection.ssh_port}; "
                    f"user {username} with {secrets or 'no secret'}; host key "
                    f"{host_key.split()[0]} {fingerprint(host_key)}; {mapped} probe port(s);"
                    f" zERT collection {'on' if connection.zert_enabled else 'off'})"
                )

    # --- reading -----------------------------------------------------------------------------

    def _config(self, path: Path, workdir: Path) -> dict[str, Any]:
        if not path.is_file():
            raise CommandError(f"{path}: no such simulator configuration")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise CommandError(f"{path}: not a lparsim configuration")
        configured = (data.get("sim") or {}).get("workdir")
        if configured and (path.parent / str(configured)).resolve() != workdir.resolve():
            self.stderr.write(
                f"note: {path} names the workdir {configured}, the state file is in {workdir}; "
                "the password is taken from it all the same"
            )
        return data

    @staticmethod
    def _user(state: dict[str, Any], wanted: str | None) -> tuple[str, Path | None]:
        keys = {str(k): Path(str(v)) for k, v in (state.get("user_keys") or {}).items()}
        if wanted:
            match = next((k for k in keys if k.upper() == wanted.upper()), None)
            return (match or wanted).upper(), keys.get(match) if match else None
        if len(keys) == 1:
            name, path = next(iter(keys.items()))
            return name.upper(), path
        if not keys:
            raise CommandError("the simulator generated no user key; name the user with --user")
        raise CommandError(f"several users have keys ({', '.join(sorted(keys))}); use --user")

    @staticmethod
    def _password(config: dict[str, Any], username: str) -> str:
        for user in (config.get("sim") or {}).get("users") or []:
            if isinstance(user, dict) and str(user.get("name", "")).upper() == username.upper():
                password = user.get("password")
                return "" if password is None else str(password)
        return ""

    @staticmethod
    def _procname(config: dict[str, Any], lpar_name: str) -> str:
        for lpar in config.get("lpars") or []:
            if isinstance(lpar, dict) and str(lpar.get("name", "")).upper() == lpar_name.upper():
                return str((lpar.get("sim") or {}).get("pagent_procname") or "")
        return ""

    @staticmethod
    def _partner_ports(state: dict[str, Any]) -> dict[str, int]:
        """{"address:port" as z/OS connects to it: host port} for the simulated partners."""
        return {
            f"{partner['address']}:{partner['port']}": int(partner["host_port"])
            for partner in (state.get("partners") or {}).values()
            if partner.get("host_port") is not None
        }

    @staticmethod
    def _probe_ports(lpar_state: dict[str, Any]) -> dict[str, dict[str, int]]:
        """{stack: {z/OS port: host port}} for the inbound services the simulator listens for."""
        ports: dict[str, dict[str, int]] = {}
        for service in (lpar_state.get("services") or {}).values():
            host_port = service.get("host_port")
            if host_port is None or service.get("zos_port") is None:
                continue
            stack = str(service.get("stack") or "TCPIP")
            ports.setdefault(stack, {})[str(service["zos_port"])] = int(host_port)
        return ports
