"""TTFT percentiles from a Prometheus histogram: parsing vLLM's format and the interpolation."""

from arena.providers.server_metrics import TTFT_METRIC, histogram, quantile

PAGE = """# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 10.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.2",model_name="m"} 30.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 40.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.1",model_name="m"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.2",model_name="m"} 10.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="+Inf",model_name="m"} 10.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 40.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="0.1",model_name="m"} 99.0
"""


def test_buckets_are_summed_over_engines_and_other_metrics_ignored():
    assert histogram(PAGE, TTFT_METRIC) == {0.1: 10.0, 0.2: 40.0, float("inf"): 50.0}


def test_quantile_interpolates_inside_the_bucket_of_the_session_only():
    before = {0.1: 4.0, 0.2: 4.0, float("inf"): 4.0}  # four requests before the session, all fast
    after = histogram(PAGE, TTFT_METRIC)
    # The session: 6 in (0, 0.1], 30 in (0.1, 0.2], 10 above 0.2; 46 in all.
    # p50: rank 23 lies 17 into the 30 of (0.1, 0.2]: 0.1 + 0.1 * 17/30.
    assert abs(quantile(before, after, 0.5) - (0.1 + 0.1 * 17 / 30)) < 1e-12
    # p10: rank 4.6 of the first 6 in (0, 0.1]: 0.1 * 4.6/6.
    assert abs(quantile(before, after, 0.1) - 0.1 * 4.6 / 6) < 1e-12
    # p99 falls in +Inf: the last finite bound is all a histogram can say.
    assert quantile(before, after, 0.99) == 0.2


def test_no_requests_in_the_session_gives_none():
    after = histogram(PAGE, TTFT_METRIC)
    assert quantile(after, after, 0.5) is None
    assert quantile({}, {}, 0.5) is None
