"""The statistics of bench/relevance on hand-made inputs whose answer is known."""

from __future__ import annotations

import pytest

from bench.relevance.report import Summary, summarise_macro, summarise_site
from bench.relevance.stats import (
    FLIPS,
    best_baseline,
    bootstrap_interval,
    macro_means,
    paired_test,
    stratified_interval,
)

REVERSED = [0.2, 0.5, 0.1, 0.9, 0.0, 1.0, 0.3, 0.25, 0.5, 0.1]


def test_identical_methods_have_p_one_and_no_difference() -> None:
    test = paired_test([REVERSED], [list(REVERSED)])
    assert test.delta == 0.0
    assert test.p == 1.0


def test_a_method_better_on_every_case_has_a_small_p() -> None:
    better = [[1.0] * 20]
    worse = [[0.5] * 20]
    test = paired_test(better, worse)
    assert test.delta == pytest.approx(0.5)
    # only the all-positive flip reaches the observed |delta|: 2 / 2^20 of the flips
    assert test.p < 0.001
    assert test.p >= 1 / (FLIPS + 1)


def test_the_test_is_two_sided() -> None:
    a, b = [[1.0] * 12 + [0.0] * 2], [[0.0] * 12 + [1.0] * 2]
    assert paired_test(a, b).p == pytest.approx(paired_test(b, a).p)
    assert paired_test(b, a).delta == pytest.approx(-paired_test(a, b).delta)


def test_a_balanced_difference_is_not_significant() -> None:
    a, b = [[1.0, 0.0] * 10], [[0.0, 1.0] * 10]
    test = paired_test(a, b)
    assert test.delta == 0.0
    assert test.p == 1.0


def test_the_macro_test_weighs_sites_equally() -> None:
    # site 1: +1 on 2 cases; site 2: 0 on 40 cases: the macro delta is 0.5, not 2/42
    test = paired_test([[1.0, 1.0], [0.5] * 40], [[0.0, 0.0], [0.5] * 40])
    assert test.delta == pytest.approx(0.5)
    # flips only move site 1's two cases: half of the flips reach |0.5|
    assert test.p == pytest.approx(0.5, abs=0.03)


def test_unpaired_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        paired_test([[1.0, 0.0]], [[1.0]])
    with pytest.raises(ValueError):
        paired_test([[]], [[]])


def test_the_interval_contains_the_mean_and_is_repeatable() -> None:
    low, high = bootstrap_interval(REVERSED)
    mean = sum(REVERSED) / len(REVERSED)
    assert low < mean < high
    assert 0.0 <= low and high <= 1.0
    assert bootstrap_interval(REVERSED) == (low, high)


def test_the_interval_of_constant_values_is_the_value() -> None:
    assert bootstrap_interval([0.25] * 7) == (0.25, 0.25)


def test_the_interval_narrows_with_more_cases() -> None:
    low, high = bootstrap_interval(REVERSED)
    wide_low, wide_high = bootstrap_interval(REVERSED * 10)
    assert wide_high - wide_low < high - low


def test_the_stratified_interval_centres_on_the_mean_of_site_means() -> None:
    # site means 1.0 and 0.0 -> macro 0.5, whatever the sites' sizes; site 1 varies
    low, high = stratified_interval([[1.0, 0.0, 1.0, 1.0] * 3, [0.0] * 50])
    assert low < 0.375 < high
    assert high <= 0.5
    assert stratified_interval([[1.0] * 3, [0.0] * 50]) == (0.5, 0.5)


def test_the_best_baseline_has_the_highest_mrr_and_ties_go_to_the_first() -> None:
    mrr = {"whoknows": 0.9, "POP": 0.2, "Model 1": 0.4, "Model 2": 0.4}
    assert best_baseline(mrr) == "Model 1"
    with pytest.raises(ValueError):
        best_baseline({"whoknows": 0.9})


def test_macro_means_average_the_site_means() -> None:
    sites = [{"A": {"MRR": 1.0}, "B": {"MRR": 0.0}}, {"A": {"MRR": 0.5}, "B": {"MRR": 0.5}}]
    assert macro_means(sites) == {"A": {"MRR": 0.75}, "B": {"MRR": 0.25}}


def _site(name: str, subject: list[float], pop: list[float]) -> Summary:
    def cases(values: list[float]) -> list[dict[str, float]]:
        return [{"P@1": float(v == 1.0), "MRR": v, "nDCG@10": v, "R@5": v, "R@10": v}
                for v in values]

    counts = {"cases": len(subject), "test_with_accepted": len(subject)}
    per_case = {"title": {"whoknows": cases(subject), "POP": cases(pop)}}
    ms = {"title": {"whoknows": 1.0, "POP": 0.1}}
    return summarise_site(name, "2020-01-01", counts, [str(i) for i in range(len(subject))],
                          per_case, ms)


def test_the_macro_summary_compares_with_the_best_baseline_and_flags_a_site_behind_pop(
        ) -> None:
    ahead = _site("ahead", [1.0] * 10, [0.5] * 10)
    behind = _site("behind", [0.0] * 10, [1.0, 0.5] * 5)
    assert ahead["forms"]["title"]["best_baseline"] == "POP"
    assert ahead["forms"]["title"]["paired"]["p"] < 0.01
    macro = summarise_macro([ahead, behind])
    assert macro is not None
    figures = macro["forms"]["title"]
    assert figures["methods"]["whoknows"]["means"]["MRR"] == pytest.approx(0.5)
    assert figures["methods"]["POP"]["means"]["MRR"] == pytest.approx(0.625)
    assert figures["ratio"] == pytest.approx(0.8)
    assert figures["targets"]["sites_behind_POP_interval"] == ["behind"]
    assert figures["targets"]["mrr_ratio_at_least_1.15"] is False
