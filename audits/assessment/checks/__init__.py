"""The checks, one module per control family; importing this package registers them all."""

from audits.assessment.checks import (  # noqa: F401 - each module registers its checks
    campaigns,
    certificates,
    client_auth,
    extensions,
    history,
    impact,
    protocols,
    sessions,
    suites,
    zero_trust,
    zos_client,
)
from audits.assessment.checks.registry import CHECKS, check

__all__ = ["CHECKS", "check"]
