import pytest

from attls.errors import PolicySyntaxError
from attls.policy.pagent import (
    StackFiles,
    TcpImage,
    TTLSConfigRef,
    load_stack_policy,
    parse_pagent_config,
    resolve_stack,
)

MAIN = """\
LogLevel 15
Codepage IBM-1047
TcpImage TCPIP /etc/pagent/TCPIP.image FLUSH PURGE 600
TcpImage TCPIPB /etc/pagent/TCPIPB.image
CommonTTLSConfig /etc/pagent/common.policy
"""
IMAGE = "TTLSConfig /etc/pagent/TCPIP.policy FLUSH PURGE\n"
COMMON = """\
TTLSGroupAction grpShared
{
  TTLSEnabled Off
}
"""
STACK = """\
TTLSRule Telnet
{
  LocalPortRange 23
  Direction Inbound
  TTLSGroupActionRef grpShared
}
"""
FILES = {
    "/etc/pagent/TCPIP.image": IMAGE,
    "/etc/pagent/common.policy": COMMON,
    "/etc/pagent/TCPIP.policy": STACK,
}


def test_the_main_file_names_each_stack_and_its_image_file():
    config = parse_pagent_config(MAIN)

    assert config.log_level == 15
    assert config.codepage == "IBM-1047"
    assert config.images == [
        TcpImage("TCPIP", "/etc/pagent/TCPIP.image", flush=True, purge=True, refresh_seconds=600),
        TcpImage("TCPIPB", "/etc/pagent/TCPIPB.image"),
    ]
    assert config.images[1].effective_refresh_seconds == 1800
    assert config.common_ttls_config == TTLSConfigRef("/etc/pagent/common.policy")


def test_the_chain_leads_from_the_stack_to_its_policy_files_common_first():
    files = resolve_stack(parse_pagent_config(MAIN), "TCPIP", FILES.__getitem__)

    assert files == StackFiles(
        stack="TCPIP",
        image_file="/etc/pagent/TCPIP.image",
        common_policy_file="/etc/pagent/common.policy",
        policy_file="/etc/pagent/TCPIP.policy",
        refresh_seconds=600,
    )
    policy = load_stack_policy(files, FILES.__getitem__)
    assert policy.rules["Telnet"].group_action_ref == "grpShared"
    assert policy.group_actions["grpShared"].ttls_enabled is False


def test_a_later_file_replaces_a_statement_of_the_same_name_from_the_common_file():
    override = STACK + "TTLSGroupAction grpShared\n{\n  TTLSEnabled Off\n  Trace 7\n}\n"
    files = dict(FILES, **{"/etc/pagent/TCPIP.policy": override})
    stack = resolve_stack(parse_pagent_config(MAIN), "TCPIP", files.__getitem__)

    policy = load_stack_policy(stack, files.__getitem__)

    assert policy.group_actions["grpShared"].trace == 7


def test_a_tcpimage_pointing_straight_at_the_policy_file_installs_no_policy():
    main = "TcpImage TCPIP /etc/pagent/TCPIP.policy\n"
    files = resolve_stack(parse_pagent_config(main), "TCPIP", FILES.__getitem__)

    assert files.policy_file is None
    assert files.policy_files == []


def test_a_main_file_without_tcpimage_applies_its_ttlsconfig_to_the_default_stack():
    config = parse_pagent_config("TTLSConfig /etc/pagent.ttls.conf\n")

    files = resolve_stack(config, "TCPIP", FILES.__getitem__)

    assert files.policy_file == "/etc/pagent.ttls.conf"


def test_a_stack_missing_from_pagent_conf_is_named():
    with pytest.raises(KeyError, match="no TcpImage statement for stack TCPIPC"):
        resolve_stack(parse_pagent_config(MAIN), "TCPIPC", FILES.__getitem__)


def test_mistakes_in_pagent_conf_are_reported_at_their_line_and_column():
    text = "LogLevel many\nTcpImage TCPIP /etc/x FLUSH SOMETIMES\nTTLSRule r\n{\n}\n"
    with pytest.raises(PolicySyntaxError) as caught:
        parse_pagent_config(text, source="/etc/pagent.conf")

    assert [(p.line, p.column, p.message) for p in caught.value.problems] == [
        (1, 10, "LogLevel takes one whole number (a sum of 1, 2, 4, ... 256)"),
        (2, 29, "'SOMETIMES' is not FLUSH, NOFLUSH, PURGE, NOPURGE or a refresh interval"),
        (3, 1, "TTLSRule does not take a block"),
    ]
    assert str(caught.value).startswith("/etc/pagent.conf: line 1, column 10")


def test_statements_of_other_policy_types_are_kept_by_name_and_not_read():
    config = parse_pagent_config("TcpImage TCPIP\nIpSecConfig /etc/ipsec.policy\n")

    assert config.other_statements == ["IpSecConfig"]
