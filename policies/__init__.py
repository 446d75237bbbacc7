"""The design: LPARs, stacks, services, shared policy objects, rules, published versions."""
