import pytest

from attls.errors import PolicySyntaxError
from policies.generation import stack_policy
from policies.importing import ImportRefused, import_apply, import_preview
from policies.models import ChangeRecord, EnvironmentAction, GroupAction, Service


def modellable(text: str) -> str:
    """The fixture without the two conditions the designer does not model."""
    return text.replace(
        "RemoteAddrGroupRef          partnerHosts", "RemoteAddr 192.0.2.10"
    ).replace("LocalAddr                   10.1.0.0/16", "RemoteAddr 10.1.0.0/16")


def test_the_preview_says_what_each_statement_becomes_and_saves_nothing(stack, fixture_policy):
    report = import_preview(stack=stack, text=fixture_policy)

    becomes = {(item.statement, item.name): item.becomes for item in report.items}
    assert becomes[("TTLSRule", "TN3270")] == "service and rule"
    assert becomes[("TTLSEnvironmentAction", "envServer")] == "environment action"
    assert becomes[("TTLSKeyringParms", "ringShared")] == "key ring"
    assert all(item.status == "new" for item in report.items)
    # The designer models remote addresses, not address groups or local addresses.
    assert report.unsupported == [
        "TTLSRule 'MQToPartner': uses remote addr group ref, which the designer cannot model yet",
        "TTLSRule 'LegacyFtp': has a LocalAddr condition, which the designer cannot model yet",
    ]
    assert report.dropped == ["IpAddrSet 'partnerNets'", "IpAddrGroup 'partnerHosts'"]
    assert not report.can_apply
    assert Service.objects.count() == 0
    assert not EnvironmentAction.objects.exists()


def test_a_syntax_error_names_line_and_column_and_saves_nothing(stack):
    with pytest.raises(PolicySyntaxError) as caught:
        import_preview(stack=stack, text="TTLSGroupAction g\n{\n  TTLSEnabled Maybe\n}\n")

    assert (caught.value.line, caught.value.column) == (3, 15)
    assert not GroupAction.objects.exists()


def test_applying_creates_every_object_and_the_generated_policy_behaves_the_same(
    stack, architect, fixture_policy
):
    text = modellable(fixture_policy)
    report = import_preview(stack=stack, text=text)

    import_apply(actor=architect, stack=stack, text=text, sha256=report.sha256)

    assert sorted(Service.objects.values_list("name", flat=True)) == [
        "LegacyFtp",
        "MQChannelsIn",
        "MQToPartner",
        "TN3270",
    ]
    environment = EnvironmentAction.objects.get(name="envServer")
    # Protocol switches are stored as their effective values.
    assert (environment.tlsv1, environment.tlsv1_2, environment.tlsv1_3) == (False, True, True)
    assert environment.client_auth_type == "Full"
    generated = stack_policy(stack)
    assert generated.rules["TN3270"].local_port_range == generated.rules["TN3270"].local_port_range
    assert generated.rules["MQChannelsIn"].local_port_range.low == 1414
    assert ChangeRecord.objects.filter(actor=architect, object_type="Service").count() == 4


def test_a_name_clash_refuses_the_whole_import(stack, architect, fixture_policy, make_service):
    make_service("TN3270", 23)
    text = modellable(fixture_policy)
    report = import_preview(stack=stack, text=text)

    # The design already has a grpMaster (Trace 2; the file says 6) and a TN3270 service.
    assert [(item.name, item.detail) for item in report.clashes] == [
        ("grpMaster", "an existing GroupAction of this name differs in trace"),
        ("TN3270", "SYSA/TCPIP already has a service named TN3270"),
    ]
    with pytest.raises(ImportRefused):
        import_apply(actor=architect, stack=stack, text=text, sha256=report.sha256)
    assert Service.objects.count() == 1


def test_a_file_changed_after_the_preview_is_refused(stack, architect, fixture_policy):
    report = import_preview(stack=stack, text=fixture_policy)

    with pytest.raises(ImportRefused, match="not the one that was previewed"):
        import_apply(actor=architect, stack=stack, text=fixture_policy + "\n", sha256=report.sha256)


HARDENED_FILE = """
TTLSRule TN3270
{
  LocalPortRange 992
  Direction Inbound
  TTLSGroupActionRef grp
  TTLSEnvironmentActionRef envHard
}
TTLSGroupAction grp
{
  TTLSEnabled On
}
TTLSEnvironmentAction envHard
{
  HandshakeRole Server
  TTLSKeyringParmsRef ring
  TTLSEnvironmentAdvancedParms
  {
    TLSv1.2 On
    TLSv1.3 On
    PeerMinRsaKeySize 2048
    PeerMinECCKeySize 256
    PeerMinCertVersion 3
    ServerScsv On
  }
  TTLSSignatureParmsRef sigStrong
  TTLSGskAdvancedParms
  {
    RevocationSecurityLevel High
    TTLSGskOcspParms
    {
      OcspAiaEnable On
      OcspServerStapling On
      OcspNonceGenEnable On
    }
  }
}
TTLSSignatureParms sigStrong
{
  ServerKexECurves 00230024
  ServerKeyShareGroups 0023
  ServerKeyShareGroups 0024
  ClientECurves Any
  SignaturePairs 04010403
}
TTLSKeyringParms ring
{
  Keyring TCPIP/SharedRing
}
"""


def test_signature_key_size_and_ocsp_parameters_are_imported_not_lost(stack, architect):
    report = import_preview(stack=stack, text=HARDENED_FILE)

    environment_item = next(i for i in report.items if i.name == "envHard")
    # Only what the designer still does not carry is reported as lost.
    assert environment_item.lost == [
        "TTLSEnvironmentAdvancedParms.ServerScsv",
        "TTLSGskAdvancedParms.TTLSGskOcspParms.OcspNonceGenEnable",
    ]

    import_apply(actor=architect, stack=stack, text=HARDENED_FILE, sha256=report.sha256)

    environment = EnvironmentAction.objects.get(name="envHard")
    assert environment.server_kex_ecurves == ["0023", "0024"]
    assert environment.server_key_share_groups == ["0023", "0024"]
    assert environment.client_ecurves == ["Any"]
    assert environment.client_key_share_groups == []
    assert environment.signature_pairs == ["0401", "0403"]
    assert (environment.peer_min_rsa_key_size, environment.peer_min_ecc_key_size) == (2048, 256)
    assert environment.peer_min_dh_key_size is None
    assert environment.peer_min_cert_version == "3"
    assert environment.revocation_security_level == "High"
    assert environment.ocsp_aia_enable is True
    assert environment.ocsp_server_stapling is True
    assert environment.ocsp_url == ""
    generated = stack_policy(stack).environment_actions["envHard"]
    assert generated.signature is not None
    assert generated.signature.server_kex_ecurves == ("0023", "0024")
    assert generated.gsk_advanced is not None and generated.gsk_advanced.gsk_ocsp is not None
    assert generated.gsk_advanced.gsk_ocsp.ocsp_server_stapling is True


TOLERATED = """\
# TN3270 for the operators' emulators
# ----------------------------------
TTLSRule TN3270
{
  LocalPortRange 23
  Direction Inbound
  TTLSGroupActionRef g
  TTLSEnvironmentActionRef e
}
TTLSGroupAction g
{
  TTLSEnabled On
}
TTLSEnvironmentAction e
{
  HandshakeRole Server
  TTLSKeyringParmsRef k
  TTLSEnvironmentAdvancedParms
  {
    TLSv1.2 On
    TLSv1.2 On
  }
}
TTLSKeyringParms k
{
  Keyring RING
}
"""


def test_what_policy_agent_tolerates_is_listed_and_a_rule_comment_becomes_the_description(
    stack, architect
):
    report = import_preview(stack=stack, text=TOLERATED)

    assert [(w.line, w.message.split(" is given")[0]) for w in report.warnings] == [(21, "TLSv1.2")]
    assert report.descriptions == {"TN3270": "TN3270 for the operators' emulators"}
    import_apply(actor=architect, stack=stack, text=TOLERATED, sha256=report.sha256)
    assert Service.objects.get(name="TN3270").description == ("TN3270 for the operators' emulators")


def test_unset_protocols_are_imported_as_the_defaults_of_the_stacks_release(stack, architect):
    stack.zos_release = "3.2"
    stack.save()
    text = TOLERATED.replace("    TLSv1.2 On\n    TLSv1.2 On\n", "    TLSv1.3 On\n")
    report = import_preview(stack=stack, text=text)
    import_apply(actor=architect, stack=stack, text=text, sha256=report.sha256)

    environment = EnvironmentAction.objects.get(name="e")
    # z/OS 3.2 turns only TLSv1.2 on by default; 3.1 would have TLSv1 and TLSv1.1 On.
    assert (environment.tlsv1, environment.tlsv1_1, environment.tlsv1_2) == (False, False, True)


def test_renegotiation_abbreviated_as_ibm_lists_it_is_imported(stack, architect):
    text = TOLERATED.replace("    TLSv1.2 On\n    TLSv1.2 On\n", "    Renegotiation Abbreviated\n")
    report = import_preview(stack=stack, text=text)
    import_apply(actor=architect, stack=stack, text=text, sha256=report.sha256)

    assert EnvironmentAction.objects.get(name="e").renegotiation == "Abbreviated"
