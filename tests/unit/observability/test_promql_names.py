"""The PromQL name extraction the metric-name checks rely on."""

from __future__ import annotations

from orbitpay.observability.promql import Selector, metric_names, selectors


def test_names_not_functions_labels_keywords_or_numbers() -> None:
    expr = (
        'sum by (job, le) (rate(orbitpay_rpc_request_seconds_bucket{job=~"a|b", le!="1"}[5m])) '
        "/ on(job) group_left(version) max without (instance) (orbitpay_x offset 1h) > 1e3 "
        "and time() - orbitpay_indexer_last_success_timestamp_seconds > 0.5"
    )
    assert metric_names(expr) == {
        "orbitpay_rpc_request_seconds_bucket",
        "orbitpay_x",
        "orbitpay_indexer_last_success_timestamp_seconds",
    }


def test_strings_outside_matchers_are_not_names() -> None:
    expr = 'label_replace(up{job="api"}, "dst", "orbitpay_fake", "src", "(.*)")'
    assert metric_names(expr) == {"up"}


def test_job_matchers() -> None:
    found = selectors('up{job="orbitpay-api"} == 0 or orbitpay_y{job=~"orbitpay|orbitpay-indexer"}')
    assert found == [
        Selector("up", "=", "orbitpay-api"),
        Selector("orbitpay_y", "=~", "orbitpay|orbitpay-indexer"),
    ]
    assert found[0].job_matches("orbitpay-api") and not found[0].job_matches("orbitpay")
    assert found[1].job_matches("orbitpay") and found[1].job_matches("orbitpay-indexer")
    assert not found[1].job_matches("orbitpay-api")
    assert Selector("z", None, None).job_matches("anything")
    assert not Selector("z", "!~", "orbitpay.*").job_matches("orbitpay-api")
