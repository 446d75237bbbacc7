"""Controls, assessments, evidence packs and the hash-chained audit log."""
