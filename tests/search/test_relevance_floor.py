"""A floor under the ranking's quality on a real community: the bench/relevance harness
on a slice of bicycles.meta.stackexchange.com (tests/fixtures/stackexchange_relevance/,
CC BY-SA, authors as in the file), so that a change that breaks ranking fails here.

The slice's time split gives 25 test questions whose accepted answerer is known from
before. Measured with the shipped ranking of 2026-12 (service.search.ranking, weights fitted
on the nine shared sites, leave-one-site-out checked): whoknows' MRR 0.378; the ranking of
2026-11 0.397; the best baseline (Model 1, BM25 profiles) 0.256, POP-90 (most answers in
the last 90 days) 0.230, POP (most answers) 0.187. The floor sits a fifth below the
measured figure and above every baseline.
"""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

from bench.relevance.run import evaluate, open_store, split_site, whoknows_ranker
from tests.search.conftest import SEARCH

SLICE = Path(__file__).parent.parent / "fixtures" / "stackexchange_relevance" / "Posts.xml.gz"
FLOOR_MRR = 0.30


def test_whoknows_mrr_on_a_real_site_stays_above_the_floor(tmp_path: Path) -> None:
    dump, store = tmp_path / "dump", tmp_path / "store"
    dump.mkdir()
    store.mkdir()
    (dump / "Posts.xml").write_bytes(gzip.decompress(SLICE.read_bytes()))
    split = split_site(dump)
    assert split.counts["cases"] == 25
    services = open_store(store, split)
    try:
        figures = evaluate(split, {"whoknows": whoknows_ranker(services)}, ("title",))
    finally:
        services.engine.dispose()
    mrr = figures["title"]["whoknows"]["MRR"]
    assert mrr >= FLOOR_MRR, f"MRR {mrr:.3f} fell under the floor {FLOOR_MRR}"


def test_the_cluster_engine_ranks_a_real_site_as_well_as_the_embedded_one(
    tmp_path: Path, osmem_base_url: str
) -> None:
    """One ranking for every engine: on the slice, the cluster engine (opensearch flavor on
    osmem-server) stays above the same floor, within 0.1 of the embedded engine's MRR, and
    finds mostly the same people in the top 10. (osmem's BM25 is bleve's, with term
    statistics per segment: its document scores differ from FTS5's, so near-ties swap.)"""
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "Posts.xml").write_bytes(gzip.decompress(SLICE.read_bytes()))
    split = split_site(dump)
    mrr, rankings = {}, {}
    for name, search in (("embedded", ""), ("cluster", SEARCH.format(
            flavor="opensearch", url=osmem_base_url, prefix=f"rel-{uuid.uuid4().hex[:8]}"))):
        (tmp_path / name).mkdir()
        services = open_store(tmp_path / name, split, search)
        try:
            rank = whoknows_ranker(services)
            rankings[name] = [rank(case.title, 10) for case in split.cases]
            mrr[name] = evaluate(split, {name: rank}, ("title",))["title"][name]["MRR"]
        finally:
            services.engine.dispose()
    overlap = [len(set(embedded) & set(cluster)) / max(1, len(embedded))
               for embedded, cluster in zip(rankings["embedded"], rankings["cluster"],
                                            strict=True)]
    assert mrr["cluster"] >= FLOOR_MRR, mrr
    assert abs(mrr["cluster"] - mrr["embedded"]) <= 0.1, mrr
    assert sum(overlap) / len(overlap) >= 0.6, overlap
