"""Pure parts of the MCP server: the HTTP bearer check (driven as plain ASGI), the loopback rule, the refusal
text and the pseudonym grammar the tools accept. No sockets, no vault."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from maskkit import Detector, Masker, Vault
from maskkit.loopback import is_loopback as _is_loopback
from maskkit.vault import VaultKey
from mcp_server.__main__ import BearerAuth
from mcp_server.reveal import Decision, guidance, refusal
from mcp_server.server import _pseudonym


async def _downstream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["type"].encode()})


def _call(app: BearerAuth, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([(b"authorization", b"Bearer s3cret")], 200),
        ([(b"authorization", b"Bearer wrong")], 401),
        ([(b"authorization", b"bearer s3cret")], 401),
        ([(b"authorization", b"Bearer s3cret ")], 401),
        ([], 401),
    ],
)
def test_http_requests_need_the_exact_bearer_token(headers: list[tuple[bytes, bytes]], status: int) -> None:
    sent = _call(BearerAuth(_downstream, "s3cret"), {"type": "http", "headers": headers})
    assert sent[0]["status"] == status
    assert b"s3cret" not in b"".join(m.get("body", b"") for m in sent)


def test_lifespan_events_pass_without_a_token() -> None:
    sent = _call(BearerAuth(_downstream, "s3cret"), {"type": "lifespan", "headers": []})
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"lifespan"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("example.internal", False),
    ],
)
def test_only_loopback_hosts_are_allowed_for_http(host: str, loopback: bool) -> None:
    assert _is_loopback(host) is loopback


def test_a_refusal_says_why_and_how_to_route_through_the_proxy_at_its_real_address() -> None:
    text = refusal(Decision(False, "ANTHROPIC_BASE_URL is not set"), "unmask", "http://127.0.0.1:41234")
    assert text.startswith("unmask refused: ") and "ANTHROPIC_BASE_URL is not set" in text
    assert text.endswith(guidance("http://127.0.0.1:41234")) and "ANTHROPIC_BASE_URL=http://127.0.0.1:41234 " in text
    for hint in ("maskkit proxy", "ANTHROPIC_BASE_URL=http://127.0.0.1:41234", "MASKKIT_ALLOW_REVEAL=1", "start_proxy"):
        assert hint in text


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("ec2-001", "ec2-001"),
        (" EC2\u2011001\n", "ec2-001"),
        ("acct-1000", "acct-1000"),
        ("ec2-01", None),
        ("ec2_001", None),
        ("i-0123456789abcdef0", None),
        ("xec2-001", None),
        ("ec2-001 ec2-002", None),
        ("nosuchprefix-001", None),
    ],
)
def test_lookup_takes_one_whole_pseudonym_of_a_known_prefix(token: str, expected: str | None) -> None:
    # A vault that is never contacted: building a Masker does no I/O.
    masker = Masker(Vault(VaultKey(bytes(32)), ttl=60, url="redis://127.0.0.1:1/0"), Detector())
    if expected is None:
        with pytest.raises(ToolError, match="not a pseudonym"):
            _pseudonym(masker, token)
    else:
        assert _pseudonym(masker, token) == expected
