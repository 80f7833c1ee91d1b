"""The Responses surface, registered (issue 21): its routes in-process, as Codex and
the openai SDK call them, in front of an OpenAI-compatible service over
``httpx.MockTransport`` (no sockets).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from modelport.gateway import create_app

from .conftest import gateway, recording_backend
from .responses_helpers import check_grammar, sse_events
from .test_surface_contract import Upstream

pytestmark = pytest.mark.anyio

ASK = {"model": "m", "input": "Say hi"}


def _sent(seen: list[httpx.Request]) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in seen if r.url.path.endswith("/chat/completions")]


async def test_a_response_is_created_stored_listed_and_deleted() -> None:
    provider, _ = recording_backend()
    async with gateway([provider]) as (_, http):
        created = await http.post("/v1/responses", json={**ASK, "instructions": "Be brief."})
        body = created.json()
        kept = await http.get(f"/v1/responses/{body['id']}")
        items = await http.get(f"/v1/responses/{body['id']}/input_items?order=asc")
        deleted = await http.delete(f"/v1/responses/{body['id']}")
        gone = await http.get(f"/v1/responses/{body['id']}")
    assert created.status_code == 200
    assert body["object"] == "response" and body["id"].startswith("resp_")
    assert body["status"] == "completed" and body["model"] == "m"
    assert body["output"][0]["content"][0]["text"] == "hi"
    assert kept.status_code == 200 and kept.json() == body
    assert [i["content"][0]["text"] for i in items.json()["data"]] == ["Say hi"]
    assert deleted.json() == {"id": body["id"], "object": "response", "deleted": True}
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "response_not_found"


async def test_previous_response_id_continues_a_stored_conversation() -> None:
    provider, seen = recording_backend()
    async with gateway([provider]) as (_, http):
        first = (await http.post("/v1/responses", json=ASK)).json()
        second = await http.post(
            "/v1/responses", json={**ASK, "input": "Again", "previous_response_id": first["id"]}
        )
        unknown = await http.post(
            "/v1/responses", json={**ASK, "previous_response_id": "resp_nope"}
        )
    assert second.status_code == 200
    assert [m["content"] for m in _sent(seen)[-1]["messages"]] == ["Say hi", "hi", "Again"]
    assert unknown.status_code == 400
    error = unknown.json()["error"]
    assert (error["code"], error["param"]) == (
        "previous_response_not_found",
        "previous_response_id",
    )


async def test_a_streamed_response_follows_the_event_grammar_and_is_stored() -> None:
    provider, _ = recording_backend()
    async with gateway([provider]) as (_, http):
        answer = await http.post("/v1/responses", json={**ASK, "stream": True})
        final = check_grammar(sse_events(answer.content))
        kept = await http.get(f"/v1/responses/{final['id']}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/event-stream"
    assert final["status"] == "completed"
    assert kept.status_code == 200 and kept.json()["output"] == final["output"]


async def test_built_in_tools_are_dropped_and_named_in_the_warning_header() -> None:
    provider, seen = recording_backend()
    tools = [
        {"type": "web_search"},
        {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}},
    ]
    async with gateway([provider]) as (_, http):
        answer = await http.post("/v1/responses", json={**ASK, "tools": tools})
    assert answer.status_code == 200
    assert "web_search" in answer.headers["x-modelport-warning"]
    assert [t["function"]["name"] for t in _sent(seen)[-1]["tools"]] == ["f"]


async def test_background_mode_is_a_501_and_store_false_keeps_nothing() -> None:
    provider, _ = recording_backend()
    async with gateway([provider]) as (_, http):
        background = await http.post("/v1/responses", json={**ASK, "background": True})
        unstored = (await http.post("/v1/responses", json={**ASK, "store": False})).json()
        missing = await http.get(f"/v1/responses/{unstored['id']}")
    assert background.status_code == 501
    assert missing.status_code == 404


async def test_the_openai_sdk_creates_responses_in_process() -> None:
    openai = pytest.importorskip("openai")
    httpx2 = pytest.importorskip("httpx2")
    client = Upstream().client()
    app = create_app(client, api_keys=["k"])
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    sdk = openai.AsyncOpenAI(
        base_url="http://localhost/v1", api_key="k", http_client=http, max_retries=0
    )
    try:
        whole = await sdk.responses.create(model="m", input="Say hi")
        stream = await sdk.responses.create(model="m", input="Say hi", stream=True)
        events = [event async for event in stream]
        again = await sdk.responses.retrieve(whole.id)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.create(model="nope", input="Say hi")
    finally:
        await http.aclose()
        await client.aclose()
    assert whole.output_text == "hi" and whole.status == "completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "hi"
    assert again.id == whole.id
