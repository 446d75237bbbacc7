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
from audits.models.log import AuditCheckpoint, AuditEntry

__all__ = [
    "Assessment",
    "AuditCheckpoint",
    "AuditEntry",
    "ControlResult",
    "EvidencePack",
    "Outcome",
    "RiskException",
    "RunState",
    "ScopeKind",
]
