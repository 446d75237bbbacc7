"""The SSH front: key authentication, the z/OS UNIX commands, SFTP, with an asyncssh client."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from attls.policy import parse_policy
from attls.reports.compare import compare_report
from attls.reports.netstat import parse_netstat_allconn, parse_netstat_group
from attls.reports.pasearch import effective_ciphers, effective_protocols, parse_pasearch
from tests.lparsim.policies import FTP, MQ_OUT, TN3270, policy
from tests.lparsim.support import USER, Sim


def test_pasearch_of_the_loaded_policy_parses_back_and_agrees_with_it(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    text = policy(TN3270, FTP, MQ_OUT, client_tls13=False)
    sim.install(text)
    report = parse_pasearch(sim.run("pasearch -t").stdout)
    loaded = parse_policy(text)

    assert report.image == "TCPIP"
    assert not report.warnings
    assert compare_report(loaded, report, image="TCPIP") == []
    rules = {rule.name: rule for rule in report.rules}
    assert [rule.name for rule in report.rules] == ["rule_TN3270", "rule_FTP", "rule_MQ_CLEARHOUSE"]
    tn3270, mq = rules["rule_TN3270"], rules["rule_MQ_CLEARHOUSE"]
    assert (tn3270.priority, tn3270.condition.local_port_from) == (100, 992)
    assert (tn3270.condition.job_name, tn3270.condition.direction) == ("TN3270A", "Inbound")
    assert (mq.condition.remote_port_from, mq.condition.direction) == (1416, "Outbound")
    assert effective_protocols(tn3270) == ["TLSv1.2", "TLSv1.3"]
    assert effective_protocols(mq) == ["TLSv1.2"]  # the connection action turns 1.3 Off
    assert effective_ciphers(tn3270) == ["1301", "1302", "C02B", "C02C", "C02F", "C030"]
    assert [ref.scope for ref in mq.actions] == ["Group", "Environment", "Connection"]


def test_pasearch_filters_by_image_and_rule(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    sim.install(policy(TN3270, FTP))
    only, other_image, missing, bad = sim.ssh(
        "pasearch -t -f rule_FTP",
        "pasearch -t -p TCPIPX",
        "pasearch -t -f no_such_rule",
        "pasearch -z",
    )
    assert [rule.name for rule in parse_pasearch(only.stdout).rules] == ["rule_FTP"]
    assert other_image.stdout.strip() == "No policies retrieved"
    assert missing.stdout.strip() == "No policies retrieved"
    assert bad.exit_status == 1 and "Usage: pasearch" in bad.stderr


def test_an_empty_policy_gives_no_policies_retrieved(shared_sim: Sim) -> None:
    assert shared_sim.run("pasearch -t").stdout.strip() == "No policies retrieved"


def test_netstat_reports_parse_with_attls(shared_sim: Sim) -> None:
    group, allconn, uncovered = shared_sim.ssh(
        "netstat -x", "netstat -a -p TCPIP", "netstat -a -X NOTTLSPOLICY"
    )
    assert parse_netstat_group(group.stdout).tcpip_name == "TCPIP"
    rows = parse_netstat_allconn(allconn.stdout).rows
    listeners = {(row.user_id, row.local_socket.port) for row in rows if row.state == "Listen"}
    assert listeners == {("TN3270A", 992), ("FTPD1", 21)}
    assert parse_netstat_allconn(uncovered.stdout, filter="NOTTLSPOLICY").rows


def test_unknown_commands_and_stacks_fail_as_the_shell_does(shared_sim: Sim) -> None:
    unknown, stack, chained, failing_chain, merged, piped = shared_sim.ssh(
        "racdcert listring",
        "netstat -x -p TCPIPX",
        "export LIBPATH=/usr/lib; pasearch -t && echo done",
        "false && echo never",
        "cat /no/such/file 2>&1",
        "pasearch -t | head",
    )
    assert unknown.exit_status == 127
    assert unknown.stderr.strip() == "racdcert: FSUM7351 not found"
    assert stack.exit_status == 1 and "EZZ2377I" in stack.stderr
    assert chained.stdout.strip().endswith("done")
    assert failing_chain.exit_status == 1 and "never" not in failing_chain.stdout
    assert "EDC5129I" in merged.stdout and merged.stderr == ""
    assert piped.exit_status == 2 and "not supported" in piped.stderr


def test_cat_reads_the_lpars_files_and_reports_missing_ones(shared_sim: Sim) -> None:
    conf, missing = shared_sim.ssh("cat /etc/pagent.conf", "cat /etc/nothing.conf")
    assert "TcpImage TCPIP" in conf.stdout
    assert missing.exit_status == 1
    assert "EDC5129I No such file or directory." in missing.stderr


def test_a_key_that_is_not_authorized_is_refused(shared_sim: Sim) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519")

    async def attempt() -> None:
        async with asyncssh.connect(
            "127.0.0.1",
            shared_sim.lpar().config.ssh_port,
            username=USER,
            client_keys=[stranger],
            known_hosts=None,
            password=None,
            connect_timeout=10,
        ):
            pass

    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(attempt())


def test_the_host_key_is_stable_across_restarts(start) -> None:  # type: ignore[no-untyped-def]
    first: Sim = start()
    key_file = first.lpar().directory / "ssh_host_ed25519_key.pub"
    before = key_file.read_text()

    async def fingerprint(port: int) -> str:
        async with asyncssh.connect(
            "127.0.0.1",
            port,
            username=USER,
            client_keys=[first.key_file],
            known_hosts=None,
        ) as connection:
            key = connection.get_server_host_key()
            assert key is not None
            return key.get_fingerprint()

    seen = asyncio.run(fingerprint(first.lpar().config.ssh_port))
    first.thread.stop()
    second: Sim = start()
    assert key_file.read_text() == before
    assert asyncio.run(fingerprint(second.lpar().config.ssh_port)) == seen


def test_ssh_authentication_can_be_refused_by_fault(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    assert sim.admin("POST", "/lpars/SYSA/faults/ssh-auth", {"refuse": True}).is_success
    with pytest.raises(asyncssh.PermissionDenied):
        sim.run("pasearch -t")
    assert sim.admin("POST", "/lpars/SYSA/faults/ssh-auth", {"refuse": False}).is_success
    assert sim.run("pasearch -t").exit_status == 0


def test_sftp_reads_and_writes_lpar_files_and_cannot_leave_them(shared_sim: Sim) -> None:
    async def session() -> tuple[bytes, list[str]]:
        async with (
            asyncssh.connect(
                "127.0.0.1",
                shared_sim.lpar().config.ssh_port,
                username=USER,
                client_keys=[shared_sim.key_file],
                known_hosts=None,
            ) as connection,
            connection.start_sftp_client() as sftp,
        ):
            async with sftp.open("/tmp/from-sftp.txt", "w") as file:
                await file.write("written over SFTP\n")
            async with sftp.open("/etc/pagent.conf", "rb") as file:
                conf = await file.read()
            escaped = await sftp.listdir("/../../..")
            with pytest.raises(asyncssh.SFTPError):
                await sftp.symlink("/etc/pagent.conf", "/tmp/link")
            return conf, escaped

    conf, escaped = asyncio.run(session())
    assert b"TcpImage" in conf
    assert set(escaped) >= {"etc", "tmp", "var"}  # still the LPAR's root
    assert shared_sim.run("cat /tmp/from-sftp.txt").stdout == "written over SFTP\n"
