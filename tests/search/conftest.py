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

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from service import pipeline
from service.config import SearchConfig, load_config
from service.search.cluster.client import Cluster
from tests.conftest import CONFIG, NOW, PG_URL
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
            schemas.append(_create_schema())
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
        _drop_schema(schema)


def _create_schema() -> str:
    schema = f"wk_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - say plainly what the suite needs
        pytest.fail(f"PostgreSQL at {PG_URL} is needed by the store tests: {exc}")
    finally:
        admin.dispose()
    return schema


def _drop_schema(schema: str) -> None:
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _drop_indices(search: SearchConfig) -> None:
    cluster = Cluster(search)
    # by name: Elasticsearch 8 refuses to delete indices by wildcard
    cluster.delete_indices(cluster.aliases(f"{search.index_prefix}*"))
    cluster.delete_templates(f"{search.index_prefix}contributions")


@pytest.fixture
def search(open_services: OpenServices) -> pipeline.Services:
    """The pipeline on the engine under test, on an empty store."""
    return open_services()
