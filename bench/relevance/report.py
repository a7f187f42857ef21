"""Summaries and tables of a relevance run: per site and query form, each method's mean
metrics, the bootstrap interval of its MRR and a paired test of whoknows against the best
baseline; then the macro average over the sites (`bench.relevance.stats`).

A summary is plain JSON-ready data: `summarise_site` builds one from per-case metrics and
`summarise_macro` builds the macro line from site summaries, so a script that re-reads
the JSON lines of `--json-out` can recompute the macro figures with the same function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.relevance import stats
from bench.relevance.metrics import METRICS, mean_metrics

__all__ = ["SUBJECT", "Summary", "print_macro", "print_site", "summarise_macro", "summarise_site"]

#: The method compared with the baselines.
SUBJECT = "whoknows"
#: The baseline no site may trail by more than its interval (see README.md).
FLOOR_BASELINE = "POP"
COLUMNS = ("P@1", "MRR", "MRR 95% CI", "nDCG@10", "R@10", "n")

Summary = dict[str, Any]


def summarise_site(site: str, cutoff: str, counts: Mapping[str, int], questions: Sequence[str],
                   per_case: Mapping[str, Mapping[str, Sequence[Mapping[str, float]]]],
                   ms: Mapping[str, Mapping[str, float]]) -> Summary:
    """Return one site's summary from `per_case[form][method]` (one metrics dict per case,
    in the order of `questions`) and `ms[form][method]` (milliseconds per query)."""
    forms = {}
    for form, methods in per_case.items():
        rows: dict[str, dict[str, Any]] = {}
        for name, cases in methods.items():
            mrr = [c["MRR"] for c in cases]
            rows[name] = {"means": mean_metrics(cases),
                          "mrr_interval": list(stats.bootstrap_interval(mrr)) if cases else None,
                          "ms": ms[form][name],
                          "per_case": {m: [c[m] for c in cases] for m in METRICS}}
        comparison = _comparison({n: [r["per_case"]["MRR"]] for n, r in rows.items()},
                                 {n: r["means"]["MRR"] for n, r in rows.items()})
        forms[form] = {"methods": rows, **comparison}
    return {"site": site, "cutoff": cutoff, **counts, "questions": list(questions),
            "forms": forms}


def summarise_macro(sites: Sequence[Summary]) -> Summary | None:
    """Return the macro line over the site summaries that have cases (each site weighs
    the same), or None when none has."""
    kept = [site for site in sites if site["cases"]]
    if not kept:
        return None
    forms = [f for f in kept[0]["forms"] if all(f in site["forms"] for site in kept)]
    summary: Summary = {"macro": True, "sites": [site["site"] for site in kept],
                        "cases": sum(site["cases"] for site in kept), "forms": {}}
    for form in forms:
        rows = [site["forms"][form]["methods"] for site in kept]
        means = stats.macro_means([{n: r["means"] for n, r in row.items()} for row in rows])
        mrr = {name: [row[name]["per_case"]["MRR"] for row in rows] for name in means}
        methods = {name: {"means": means[name],
                          "mrr_interval": list(stats.stratified_interval(mrr[name]))}
                   for name in means}
        comparison = _comparison(mrr, {n: m["MRR"] for n, m in means.items()})
        summary["forms"][form] = {"methods": methods, **comparison,
                                  **_targets(means, comparison, kept, form)}
    return summary


def _comparison(mrr: Mapping[str, Sequence[Sequence[float]]], means: Mapping[str, float]
                ) -> dict[str, Any]:
    """The best baseline by mean MRR, the paired test of SUBJECT against it over the
    per-site per-case MRR lists, and the ratio of their MRRs."""
    if SUBJECT not in mrr or len(mrr) < 2 or not all(mrr[SUBJECT]):
        return {"best_baseline": None, "paired": None, "ratio": None}
    best = stats.best_baseline(means, exclude=SUBJECT)
    test = stats.paired_test(mrr[SUBJECT], mrr[best])
    ratio = means[SUBJECT] / means[best] if means[best] else None
    return {"best_baseline": best, "paired": {"delta": test.delta, "p": test.p},
            "ratio": ratio}


def _targets(means: Mapping[str, Mapping[str, float]], comparison: Mapping[str, Any],
             sites: Sequence[Summary], form: str) -> dict[str, Any]:
    """The issue's targets: MRR >= 1.15 x the best baseline's, nDCG@10 above every
    baseline's, and the sites where SUBJECT's MRR is below the low end of FLOOR_BASELINE's
    MRR interval."""
    if comparison["best_baseline"] is None:
        return {}
    behind = [site["site"] for site in sites
              if FLOOR_BASELINE in (row := site["forms"][form]["methods"])
              and row[SUBJECT]["means"]["MRR"] < row[FLOOR_BASELINE]["mrr_interval"][0]]
    ndcg = means[SUBJECT]["nDCG@10"]
    return {"targets": {
        "mrr_ratio_at_least_1.15": bool(comparison["ratio"] and comparison["ratio"] >= 1.15),
        "ndcg_above_every_baseline": all(ndcg > m["nDCG@10"] for n, m in means.items()
                                         if n != SUBJECT),
        f"sites_behind_{FLOOR_BASELINE}_interval": behind}}


def print_site(summary: Summary) -> None:
    """Print one Markdown table per query form of a site summary, then the paired line."""
    for form, figures in summary["forms"].items():
        print(f"\n{summary['site']} — query: {form}; trained on everything before "
              f"{str(summary['cutoff'])[:10]}; {summary['cases']} cases "
              f"(of {summary['test_with_accepted']} test questions with an accepted answer)\n")
        _table(figures["methods"], summary["cases"])
        _paired_line(figures)


def print_macro(summary: Summary) -> None:
    """Print the macro table per query form, the paired line, the ratio and the targets."""
    for form, figures in summary["forms"].items():
        print(f"\nMacro average over {len(summary['sites'])} sites — query: {form}; "
              f"{summary['cases']} cases in all; each site weighs the same; the interval "
              "resamples each site's cases within the site\n")
        _table(figures["methods"], summary["cases"])
        _paired_line(figures)
        if figures["ratio"] is not None:
            print(f"MRR ratio {SUBJECT} / {figures['best_baseline']} = {figures['ratio']:.3f}")
        if "targets" in figures:
            print("targets: " + "; ".join(f"{k} = {v}" for k, v in figures["targets"].items()))


def _table(methods: Mapping[str, Mapping[str, Any]], cases: int) -> None:
    print(f"| method | {' | '.join(COLUMNS)} |")
    print(f"| --- | {' | '.join('---:' for _ in COLUMNS)} |")
    for name, row in methods.items():
        means, interval = row["means"], row["mrr_interval"]
        ci = f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "—"
        print(f"| {name} | {means['P@1']:.3f} | {means['MRR']:.3f} | {ci} | "
              f"{means['nDCG@10']:.3f} | {means['R@10']:.3f} | {cases} |")


def _paired_line(figures: Mapping[str, Any]) -> None:
    if figures["paired"] is None:
        return
    paired = figures["paired"]
    print(f"\npaired vs best baseline ({figures['best_baseline']}): "
          f"Δ MRR = {paired['delta']:+.3f}, p = {paired['p']:.4f}")
