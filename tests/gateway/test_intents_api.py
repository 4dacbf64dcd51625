"""`POST /api/intents` refuses what it cannot start, with the reason, before Temporal is asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.settings import Settings
from gateway.app import create_app
from store import migrate
from tests.console_fixtures import FakeTemporal

TOKEN = "intent-api-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def post(tmp_path: Path, **kwargs: Any) -> httpx.Response:
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(url)
    app = create_app(Settings(database_url=url, console_token=TOKEN), FakeTemporal().factory)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        return await http.post("/api/intents", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"json": {"request": "scale shop/checkout 6"}}, 401, "authentication required"),
        ({"json": {"request": "make it faster"}, "headers": BEARER}, 422, "could not read 'make it faster'"),
        (
            {"json": {"request": "scale shop/checkout 10000"}, "headers": BEARER},
            422,
            "10000 replicas is more than the policy's maximum of 50",
        ),
        (
            {"json": {"request": "give cart 1Ti of memory"}, "headers": BEARER},
            422,
            "1Ti of memory is more than",
        ),
        ({"json": {"request": "restart shop/checkout\u0007"}, "headers": BEARER}, 422, "control"),
        ({"content": "request=restart", "headers": BEARER}, 415, "send the request as application/json"),
    ],
)
async def test_a_request_that_cannot_start_is_refused_with_its_reason(
    tmp_path: Path, kwargs: dict[str, Any], status: int, error: str
) -> None:
    response = await post(tmp_path, **kwargs)
    assert response.status_code == status, response.text
    assert error in response.text


async def test_a_body_of_the_wrong_shape_is_a_422(tmp_path: Path) -> None:
    response = await post(tmp_path, json={"request": "x" * 501, "extra": 1}, headers=BEARER)
    assert response.status_code == 422
    assert {tuple(d["loc"]) for d in response.json()["details"]} == {("request",), ("extra",)}
