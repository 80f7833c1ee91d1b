"""What Claude Code calls besides the Messages API, for the plumbing to answer quietly
(a 2xx, dropped, never logged as an error), with how each was found.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QUERY_TOLERATED", "QUIET_PATHS", "WARNING_HEADER", "QuietPath"]

WARNING_HEADER = "x-modelport-warning"
"""The response header that names what a request lost (dropped server tools...)."""

QUERY_TOLERATED = ("beta",)
"""Query parameters Claude Code adds to the surface's routes: it sends
``POST /v1/messages?beta=true`` [run], and ``/v1/messages/count_tokens?beta=true``
[issue: icebear0828/codex-proxy#612]. Routing ignores the query string."""


@dataclass(frozen=True, slots=True)
class QuietPath:
    """A side path and the answer it gets."""

    method: str
    path: str
    status: int
    body: bytes
    why: str


QUIET_PATHS: tuple[QuietPath, ...] = (
    QuietPath(
        "HEAD",
        "/api/hello",
        200,
        b"",
        "Claude Code 2.1.328 sends it to ANTHROPIC_BASE_URL before the first message "
        "unless CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1, with no key and no body [run: "
        "tests/fixtures/anthropic/claude_code_2.1.328_head_api_hello_meta.json]; the "
        "result is not used (its failure is ignored).",
    ),
    QuietPath(
        "GET",
        "/api/hello",
        200,
        b"{}",
        "a connectivity check in 2.1.328's strings (GET to its API base URL); not seen "
        "against a local base URL here.",
    ),
    QuietPath(
        "POST",
        "/api/event_logging/batch",
        200,
        b"{}",
        "telemetry that earlier Claude Code versions posted to the base URL and got a "
        "404 from Ollama [issue: ollama/ollama#13939]; not seen from 2.1.328.",
    ),
    QuietPath(
        "POST",
        "/api/event_logging/v2/batch",
        200,
        b"{}",
        "2.1.328's telemetry path (in its strings): it posts to api.anthropic.com, not "
        "the base URL, but a proxy in between may forward it.",
    ),
)
"""The side paths. They sit under ``/api/``, beside the Ollama surface's routes: these
exact paths belong to the Anthropic surface. They are answered without a key (the
``HEAD /api/hello`` seen carried none), since the answers say nothing and a 401 would
be logged as an error."""
