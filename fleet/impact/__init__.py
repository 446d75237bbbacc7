"""Change impact in the portal (issue 15): before a change, who will break; after it, who did.

- history.py: what every peer of a stack was seen doing (zERT roll-ups, netstat, refusals);
- predict.py: a candidate policy against the stack's current one and that history
  (`attls.impact` judges), with the active pre-check for untested partners, stored with
  each deployment target;
- compare.py: the refusals after a deployment against its prediction, per peer; the
  unpredicted-refusal incident; precision and recall over all deployments;
- present.py: what the panels and the deployment page show.

The pages are fleet/impact_views.py and the REST endpoints fleet/api/impact.py: outside this
package, because they call fleet.services, which calls into it (no import cycle in fleet).

Imported by fleet/models.py (models.py), so its tables belong to the fleet app.
"""
