"""Health endpoints and the problem+json shape of errors."""

from __future__ import annotations

from service import pipeline
from service.api import create_app


def test_healthz_and_readyz_answer(services: pipeline.Services) -> None:
    client = create_app({"SERVICES": services}).test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["store"] == "ok"


def test_an_unknown_path_is_a_problem_document(services: pipeline.Services) -> None:
    client = create_app({"SERVICES": services}).test_client()
    response = client.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 404 and body["title"] == "Not Found"
    assert "Traceback" not in response.get_data(as_text=True)
