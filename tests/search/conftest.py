"""The engines the contract suite runs on: `search` is the whole pipeline on one engine.

- `sqlite`: the embedded FTS5 engine, always;
- `opensearch`: the cluster engine through `opensearch-py` on osmem-server, always;
- `opensearch-postgresql`: the same with the store in PostgreSQL (the pairing at scale);
- `elasticsearch-on-osmem`: the cluster engine through the `elasticsearch` client, on
  osmem-server behind a media-type proxy (see osmem.py), always;
- `<flavor>-cluster`: the cluster engine on each real cluster WHOKNOWS_TEST_SEARCH_URL names
  (`elasticsearch` 8.x or `opensearch-py`, as the cluster reports its flavor).

Each test gets its own store and its own index prefix, removed afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import pytest

from service import pipeline
from service.config import SearchConfig, load_config
from service.connectors.base import Page
from service.model import ContributionRecord
from service.search.base import ExpertHit
from service.search.cluster.client import Cluster
from tests.conftest import CONFIG, NOW, PG_URL, create_schema, drop_schema
from tests.records import author, record
from tests.search.osmem import ClusterTarget, MediaTypeProxy, real_clusters, start_osmem

REAL = real_clusters()
ENGINES = ["sqlite", "opensearch", "opensearch-postgresql", "elasticsearch-on-osmem",
           *[target.name for target in REAL]]

SEARCH = """
[search]
engine = "elasticsearch"
flavor = "{flavor}"
url = "{url}"
index_prefix = "{prefix}"
"""

OpenServices = Callable[..., pipeline.Services]

MARKER = "ZQXV-INTERNAL-ONLY"
# Dana is the planted expert on medical insurance claims: an internal blog post and an
# accepted answer on the customer forum. Erin writes internally only.
BLOG = [
    record("b1", "dana", kind="blog_post", email="dana@corp.example",
           title=f"Claims adjudication internals {MARKER}",
           text=f"Our medical insurance claims engine {MARKER} runs nightly",
           tags=["claims adjudication"], url="https://intranet.example/b1"),
    record("b2", "dana", kind="blog_post", email="dana@corp.example", day=2,
           title="Kubernetes at the claims team", text="k8s deployment notes",
           tags=["kubernetes"]),
    record("b3", "erin", kind="blog_post", email="erin@corp.example", day=3,
           title="Fraud detection rules", text="Scoring rules that flag fraudulent claims",
           tags=["fraud"]),
]
FORUM = [
    record("q1", "cust1", kind="question", email="c1@customer.example",
           title="How are medical insurance claims adjudicated?",
           text="We submit medical claims and wait", tags=["claims"]),
    record("a1", "dana_f", email="dana@corp.example", thread="q1", accepted=True,
           score=4, liked_by=[author("cust1")], likes=1,
           text="Medical insurance claims go through adjudication rules"),
    record("a2", "cust2", email="c2@customer.example", thread="q1",
           text="I think claims take a week"),
    record("q2", "cust2", kind="question", email="c2@customer.example", day=40,
           title="Billing question", text="Where do I find my invoices?", tags=["billing"]),
]


def shown(hits: Sequence[ExpertHit]) -> str:
    """The hits as JSON text with the snippets' highlight marks taken out: a search for the
    marker highlights each of its words («ZQXV»-«INTERNAL»-«ONLY»), which a plain `MARKER in`
    check would not see."""
    text = json.dumps([asdict(hit) for hit in hits], default=str, ensure_ascii=False)
    return text.replace("«", "").replace("»", "")


def load(services: pipeline.Services, source: str, records: list[ContributionRecord]) -> None:
    """Ingests `records` from `source` as one page of an incremental sync."""
    pipeline.ingest_pages(services, source, [Page(records, cursor=None)], full_pass=False)


@pytest.fixture(scope="session")
def osmem_base_url() -> Iterator[str]:
    """One osmem-server for the session. (The package's own pytest fixtures freeze a seeded
    base and clone it per test; tests here isolate by index prefix instead, as they must on
    a real cluster.)"""
    server = start_osmem()
    yield server.url  # type: ignore[attr-defined]
    server.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def osmem_es_url(osmem_base_url: str) -> Iterator[str]:
    proxy = MediaTypeProxy(osmem_base_url)
    yield proxy.url
    proxy.close()


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cluster(engine_name: str, request: pytest.FixtureRequest) -> ClusterTarget | None:
    """Where the engine's cluster is (None for the embedded engine)."""
    if engine_name == "sqlite":
        return None
    if engine_name in ("opensearch", "opensearch-postgresql"):
        url = request.getfixturevalue("osmem_base_url")
        return ClusterTarget("opensearch", url, "opensearch")
    if engine_name == "elasticsearch-on-osmem":
        return ClusterTarget(engine_name, request.getfixturevalue("osmem_es_url"),
                             "elasticsearch")
    return next(target for target in REAL if target.name == engine_name)


@pytest.fixture
def open_services(tmp_path: Path, engine_name: str, cluster: ClusterTarget | None
                  ) -> Iterator[OpenServices]:
    """Opens the pipeline on this test's engine: `open_services(name, url=None)` gives a
    store of its own to each name, and a cluster URL other than the engine's when asked."""
    opened: list[tuple[pipeline.Services, SearchConfig | None]] = []
    schemas: list[str] = []

    def open_(name: str = "main", url: str | None = None) -> pipeline.Services:
        folder = tmp_path / name
        folder.mkdir()
        text = CONFIG.format(db=folder / "whoknows.db")
        if engine_name.endswith("postgresql"):
            schemas.append(create_schema())
            text = text.replace(f'url = "sqlite:///{folder / "whoknows.db"}"',
                                f'url = "{PG_URL}?options=-csearch_path%3D{schemas[-1]}"')
        if cluster is not None:
            text += SEARCH.format(flavor=cluster.flavor, url=url or cluster.url,
                                  prefix=f"wk-{uuid.uuid4().hex[:10]}-")
        (folder / "whoknows.toml").write_text(text)
        config = load_config(folder / "whoknows.toml", environ={})
        services = pipeline.open_services(config, clock=lambda: NOW)
        search = config.search if cluster is not None else None
        opened.append((services, None if search is None else
                       SearchConfig(engine=search.engine, flavor=search.flavor,
                                    url=cluster.url if cluster else search.url,
                                    index_prefix=search.index_prefix)))
        return services

    yield open_
    for services, search in opened:
        services.engine.dispose()
        if search is not None:
            _drop_indices(search)
    for schema in schemas:
        drop_schema(schema)


def _drop_indices(search: SearchConfig) -> None:
    cluster = Cluster(search)
    # by name: Elasticsearch 8 refuses to delete indices by wildcard
    cluster.delete_indices(cluster.aliases(f"{search.index_prefix}*"))
    cluster.delete_templates(f"{search.index_prefix}contributions")


@pytest.fixture
def search(open_services: OpenServices) -> pipeline.Services:
    """The pipeline on the engine under test, on an empty store."""
    return open_services()
