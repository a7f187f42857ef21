"""Statistics over per-case metrics: bootstrap intervals of a mean, the best baseline, a
paired sign-flip test, and the macro average over sites. Pure functions of their inputs;
every random draw comes from a generator seeded with `SEED`, so a run is repeatable.

- `bootstrap_interval`: percentile bootstrap of the mean (`RESAMPLES` resamples of the
  cases with replacement), the 2.5th and 97.5th percentiles for a 95% interval.
- `stratified_interval`: the same for the macro mean (the mean of the sites' means),
  resampling each site's cases within that site.
- `paired_test`: a two-sided paired randomization test. Under the null hypothesis that
  the two methods are exchangeable on every case, each per-case difference is as likely
  to carry the other sign; the p-value is the share of `FLIPS` random sign flips whose
  statistic is at least as far from 0 as the observed one, counting the observed one
  too, (hits + 1) / (flips + 1), so that it is never 0. Over several sites the flips
  stay within each site's cases and the statistic is the macro mean difference; for one
  site it is the mean difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FLIPS", "LEVEL", "RESAMPLES", "SEED", "PairedTest", "best_baseline",
           "bootstrap_interval", "macro_means", "paired_test", "stratified_interval"]

RESAMPLES = 2000
FLIPS = 10_000
SEED = 20061
LEVEL = 0.95
#: Flips drawn at once: bounds the memory a large site takes (chunk x cases floats).
_CHUNK = 1000
#: Differences this close to the observed statistic count as equal (float sums).
_TOLERANCE = 1e-12


@dataclass(frozen=True, slots=True)
class PairedTest:
    #: the observed statistic: mean(a - b), or over sites the mean of the sites' means
    delta: float
    #: two-sided p-value
    p: float


def bootstrap_interval(values: Sequence[float], resamples: int = RESAMPLES,
                       seed: int = SEED, level: float = LEVEL) -> tuple[float, float]:
    """Return the percentile bootstrap interval of the mean of `values`.

    Raises ValueError when `values` is empty."""
    return stratified_interval([values], resamples, seed, level)


def stratified_interval(groups: Sequence[Sequence[float]], resamples: int = RESAMPLES,
                        seed: int = SEED, level: float = LEVEL) -> tuple[float, float]:
    """Return the percentile bootstrap interval of the mean of the groups' means, each
    group's values resampled within the group.

    Raises ValueError when there is no group or a group is empty."""
    _check(groups)
    rng = np.random.default_rng(seed)
    means = np.zeros(resamples)
    for group in groups:
        values = np.asarray(group, dtype=float)
        picks = rng.integers(0, len(values), size=(resamples, len(values)))
        means += values[picks].mean(axis=1)
    means /= len(groups)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def paired_test(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]],
                flips: int = FLIPS, seed: int = SEED) -> PairedTest:
    """Compare method `a` with method `b` on the same cases: `a[g][i]` and `b[g][i]` are
    their scores on case i of site g (one site: a one-element list). Return the observed
    macro mean difference and its two-sided sign-flip p-value.

    Raises ValueError when the sites or their cases do not pair up, or a site is empty."""
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b, strict=True)):
        raise ValueError("paired_test needs the same cases for both methods")
    _check(a)
    differences = [np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
                   for x, y in zip(a, b, strict=True)]
    observed = float(np.mean([d.mean() for d in differences]))
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, flips, _CHUNK):
        size = min(_CHUNK, flips - start)
        flipped = np.zeros(size)
        for d in differences:
            signs = rng.choice((-1.0, 1.0), size=(size, len(d)))
            flipped += signs @ d / len(d)
        flipped /= len(differences)
        hits += int(np.count_nonzero(np.abs(flipped) >= abs(observed) - _TOLERANCE))
    return PairedTest(observed, (hits + 1) / (flips + 1))


def best_baseline(mrr: Mapping[str, float], exclude: str = "whoknows") -> str:
    """Return the method with the highest MRR other than `exclude`; of equals, the first
    in `mrr`'s order (the order the tables print).

    Raises ValueError when there is no other method."""
    candidates = [name for name in mrr if name != exclude]
    if not candidates:
        raise ValueError("no baseline to compare with")
    return max(candidates, key=lambda name: mrr[name])  # max keeps the first of equals


def macro_means(sites: Sequence[Mapping[str, Mapping[str, float]]]
                ) -> dict[str, dict[str, float]]:
    """Return method -> metric -> the mean over sites of each site's mean, for the
    methods and metrics every site has (`sites[g][method][metric]`).

    Raises ValueError when `sites` is empty."""
    if not sites:
        raise ValueError("no site to average")
    methods = [m for m in sites[0] if all(m in site for site in sites)]
    return {m: {metric: float(np.mean([site[m][metric] for site in sites]))
                for metric in sites[0][m] if all(metric in site[m] for site in sites)}
            for m in methods}


def _check(groups: Sequence[Sequence[float]]) -> None:
    if not groups or any(len(group) == 0 for group in groups):
        raise ValueError("every group needs at least one value")
