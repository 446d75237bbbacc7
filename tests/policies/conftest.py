"""A small design to work on: one LPAR, two stacks, the shared objects of the scenario."""

import pytest

from accounts.roles import Role
from policies import services
from policies.models import CipherSet, EnvironmentAction, GroupAction, Keyring, Stack


@pytest.fixture
def architect(make_user):
    return make_user("ada", Role.ARCHITECT)


@pytest.fixture
def stack(db, architect) -> Stack:
    lpar = services.lpar_create(actor=architect, name="SYSA")
    return services.stack_create(
        actor=architect, lpar=lpar, name="TCPIP", policy_file="/etc/pagent/TCPIP.policy"
    )


@pytest.fixture
def shared(db, architect) -> dict:
    keyring = services.shared_object_create(
        actor=architect,
        model=Keyring,
        fields={"name": "ringShared", "ring": "TCPIP/SharedRing", "certificate_labels": ["SRV"]},
    )
    ciphers = services.shared_object_create(
        actor=architect,
        model=CipherSet,
        fields={"name": "ciphersAead", "suites": ["1301", "1302", "C02B", "C02F"]},
    )
    group = services.shared_object_create(
        actor=architect, model=GroupAction, fields={"name": "grpMaster", "ttls_enabled": True}
    )
    environment = services.shared_object_create(
        actor=architect,
        model=EnvironmentAction,
        fields={
            "name": "envTls12_13",
            "keyring": keyring,
            "cipher_set": ciphers,
            "handshake_role": "Server",
        },
    )
    return {"keyring": keyring, "ciphers": ciphers, "group": group, "environment": environment}


@pytest.fixture
def make_service(stack, shared, architect):
    def make(name: str, port: int, **fields):
        values = {
            "stack": stack,
            "name": name,
            "jobname": "TN3270*",
            "local_port_low": port,
            "local_port_high": port,
            "direction": "Inbound",
            "priority": 100,
            "group_action": shared["group"],
            "environment_action": shared["environment"],
        }
        values.update(fields)
        return services.service_create(actor=architect, fields=values)

    return make


@pytest.fixture
def fixture_policy() -> str:
    from tests.attls.conftest import FIXTURES

    return (FIXTURES / "sysa-tcpip.policy").read_text()
