"""Generated from openapi.yaml, so that a new endpoint cannot slip through untested:
every operation × every scope is allowed or 403 as the contract says, and no response to
an external client carries anything internal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from service.api.scopes import ALL_SCOPES
from tests.api.conftest import MARKER, Api

CONTRACT = yaml.safe_load((Path(__file__).parents[2] / "openapi.yaml").read_text())


def _operations() -> list[tuple[str, str, list[str]]]:
    found = []
    for path, item in CONTRACT["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            security = operation.get("security", CONTRACT["security"])
            scopes = [s for requirement in security for s in requirement.get("oauth2", [])]
            if security:
                found.append((path, method, scopes))
    return found


OPERATIONS = _operations()


def _call(api: Api, token: str | None, path: str, method: str,
          values: dict[str, Any]) -> Any:
    url = path.format(**values)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    query = {"q": values["q"], "email": values["email"]}
    body = {"source": "portal", "records": [{"id": MARKER}],
            "identity": {"source": "blog", "account": "dana"}}
    return api.client.open(url, method=method.upper(), headers=headers, query_string=query,
                           json=body if method in {"post", "put", "patch"} else None)


def _values(api: Api) -> dict[str, Any]:
    from service.store.people import find_identity, person_of

    with api.services.engine.connect() as conn:
        identity = find_identity(conn, "blog", "dana")
        person = person_of(conn, identity)  # type: ignore[arg-type]
    return {"person_id": 99999, "identity_id": identity, "source_id": "forum", "q": MARKER,
            "email": "dana@corp.example", "real_person": person,
            "topic": "medical insurance claims"}


def test_every_operation_is_protected_and_documented() -> None:
    assert len(OPERATIONS) >= 11
    assert all(scopes for _, _, scopes in OPERATIONS), "each operation names its scope"


@pytest.mark.parametrize(("path", "method", "required"), OPERATIONS,
                         ids=[f"{m.upper()} {p}" for p, m, _ in OPERATIONS])
def test_scope_matrix(api: Api, path: str, method: str, required: list[str]) -> None:
    values = _values(api)
    assert _call(api, None, path, method, values).status_code == 401
    for scope in ALL_SCOPES:
        response = _call(api, api.token([scope]), path, method, values)
        if scope in required:
            assert response.status_code not in (401, 403), (scope, response.get_json())
        else:
            assert response.status_code == 403, (scope, response.status_code)


@pytest.mark.parametrize(("path", "method", "required"), OPERATIONS,
                         ids=[f"{m.upper()} {p}" for p, m, _ in OPERATIONS])
def test_no_internal_data_reaches_an_external_client(
    api: Api, path: str, method: str, required: list[str]
) -> None:
    values = _values(api)
    token = api.token(list(ALL_SCOPES), "external")
    for person in (values["real_person"], 99999):
        response = _call(api, token, path, method, {**values, "person_id": person})
        text = response.get_data(as_text=True)
        assert MARKER not in text and "intranet.example" not in text, (path, method)
        cursor = (response.get_json(silent=True) or {}).get("next_cursor")
        if cursor:
            follow = api.client.get(path.format(**{**values, "person_id": person}),
                                    headers={"Authorization": f"Bearer {token}"},
                                    query_string={"q": values["q"], "cursor": cursor})
            assert MARKER not in follow.get_data(as_text=True)
