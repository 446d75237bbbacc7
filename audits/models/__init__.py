"""The audits app's tables: the hash-chained audit log, assessments and evidence packs."""

from audits.models.assessment import (
    Assessment,
    ControlResult,
    EvidencePack,
    Outcome,
    RiskException,
    RunState,
    ScopeKind,
)
from audits.models.log import AuditEntry

__all__ = [
    "Assessment",
    "AuditEntry",
    "ControlResult",
    "EvidencePack",
    "Outcome",
    "RiskException",
    "RunState",
    "ScopeKind",
]
