"""The step log's words: whole figures a person reads, refusals beside coverage."""

from fleet.deploy import verify_summary


def test_the_verify_step_states_counts_a_percentage_and_the_refusals() -> None:
    results = {"connections": 60, "secured": 43, "coverage": 0.7167, "refused": 130}

    assert verify_summary(results) == (
        "60 connection(s), 43 secured by AT-TLS (coverage 72%), 130 refused attempt(s)"
    )


def test_a_stack_without_connections_has_no_coverage_figure() -> None:
    summary = verify_summary({"connections": 0, "secured": 0, "coverage": None})

    assert summary == ("0 connection(s), 0 secured by AT-TLS (no coverage), 0 refused attempt(s)")
