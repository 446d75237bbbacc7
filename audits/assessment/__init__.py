"""The assessment engine: the control catalog judged against design, observations and history.

    results = evaluate(scope_kind="estate", scope={}, period_start=..., period_end=...,
                       parameters={}, catalog=load_catalog())

Everything is read once, in a fixed number of queries whatever the number of services (and
one per stack: what is deployed there):

- design: the policy version deployed to each stack at the evaluation instant (the last
  successful deployment target: `fleet.selectors.deployed_target`), parsed, and the
  effective settings of every rule (`attls.effective`), plus the few AT-TLS parameters the
  effective settings do not carry (EMS, SCSV, OCSP stapling, PeerMin*, session lifetimes),
  resolved here with their observed z/OS defaults;
- observations: the hourly roll-ups of the period (`ServiceHour`, summed in the database),
  the latest successful verification run of each stack in the period, and run counts;
- history: deployments with their approvers, drift events, certificates and incidents of the
  period, and risk exceptions.

The package: `gather` reads the period's facts once (`facts` holds what they are), `checks/`
holds one module per control family, each check registered by name with `@check`, and
`engine` runs them. Each control names a check function (registered in CHECKS). A check
returns findings, one per subject (a service, a stack, or the estate), each with an
outcome and a sentence that names the rule or service and where the offending value comes
from. The engine applies active exceptions (a FAIL or WARN becomes EXCEPTION, never
PASS), takes the worst outcome, writes the rationale and attaches the evidence: policy
versions with SHA-256, verification runs with their output hashes, drift event keys,
deployments with approvers, certificates.
"""

from audits.assessment.checks import CHECKS
from audits.assessment.engine import assess, evaluate
from audits.assessment.facts import Evaluation, ResultData
from audits.scope import ScopeError, scope_services

__all__ = [
    "CHECKS",
    "Evaluation",
    "ResultData",
    "ScopeError",
    "assess",
    "evaluate",
    "scope_services",
]
