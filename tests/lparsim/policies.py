"""AT-TLS policy texts for the lparsim tests, in the shape the reference account used:
one shared group (the master switch), one shared TLS 1.2/1.3 AEAD-ECDHE environment, a
client connection action for outbound rules, one rule per service."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleSpec:
    name: str
    port: int
    jobname: str
    direction: str = "Inbound"
    priority: int = 100


SHARED = """\
TTLSGroupAction               gAct_MASTER
{{
  TTLSEnabled                 {enabled}
  Trace                       6
}}

TTLSEnvironmentAction         eAct_TLS12_13
{{
  HandshakeRole               {role}
  EnvironmentUserInstance     {instance}
  TTLSKeyringParmsRef         ring_SHARED
  TTLSEnvironmentAdvancedParmsRef adv_TLS12_13
  TTLSCipherParmsRef          cipher_AEAD
}}

TTLSEnvironmentAdvancedParms  adv_TLS12_13
{{
  TLSv1                       Off
  TLSv1.1                     Off
  TLSv1.2                     On
  TLSv1.3                     {tls13}
  ClientAuthType              {client_auth}
  HandshakeTimeout            {handshake_timeout}
}}

TTLSKeyringParms              ring_SHARED
{{
  Keyring                     {keyring}
}}

TTLSCipherParms               cipher_AEAD
{{
  V3CipherSuites4Char         {ciphers}
}}

TTLSConnectionAction          cAct_CLIENT
{{
  HandshakeRole               Client
{client_extra}}}
"""

RULE = """
TTLSRule                      {name}
{{
  {port_keyword}              {port}
  Jobname                     {jobname}
  Direction                   {direction}
  Priority                    {priority}
  TTLSGroupActionRef          gAct_MASTER
  TTLSEnvironmentActionRef    eAct_TLS12_13
{connection}}}
"""

AEAD = "13011302C02BC02CC02FC030"


def policy(
    *rules: RuleSpec,
    enabled: bool = True,
    tls13: bool = True,
    role: str = "Server",
    client_auth: str = "Required",
    instance: int = 0,
    keyring: str = "ATTLS/SharedRing",
    ciphers: str = AEAD,
    client_tls13: bool | None = None,
    handshake_timeout: int = 10,
) -> str:
    client_extra = ""
    if client_tls13 is not None:
        client_extra = (
            "  TTLSConnectionAdvancedParms\n  {\n"
            f"    TLSv1.3                   {'On' if client_tls13 else 'Off'}\n  }}\n"
        )
    text = SHARED.format(
        enabled="On" if enabled else "Off",
        role=role,
        instance=instance,
        tls13="On" if tls13 else "Off",
        client_auth=client_auth,
        keyring=keyring,
        ciphers=ciphers,
        client_extra=client_extra,
        handshake_timeout=handshake_timeout,
    )
    for rule in rules:
        outbound = rule.direction == "Outbound"
        text += RULE.format(
            name=rule.name,
            port_keyword="RemotePortRange" if outbound else "LocalPortRange ",
            port=rule.port,
            jobname=rule.jobname,
            direction=rule.direction,
            priority=rule.priority,
            connection="  TTLSConnectionActionRef     cAct_CLIENT\n" if outbound else "",
        )
    return text


TN3270 = RuleSpec("rule_TN3270", 992, "TN3270A")
FTP = RuleSpec("rule_FTP", 21, "FTPD1", priority=90)
MQ_OUT = RuleSpec("rule_MQ_CLEARHOUSE", 1416, "MQP1CHIN", "Outbound", 80)
