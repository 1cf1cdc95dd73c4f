"""Every HTTP route of the proxy against bad input: a clear Anthropic-shaped error, or forwarded masked.
Never a 500, never a traceback, never an original in the answer."""

from __future__ import annotations

import json

import httpx
import pytest
from mktests.proxyfixtures import Proxy

INSTANCE = "i-0badc0ffee0ddf00d"
_NESTED = b"[" * 50_000 + b"]" * 50_000

BODIES: dict[str, tuple[bytes, str]] = {
    "malformed-json": (b'{"messages": [', "application/json"),
    "invalid-utf8": (b'{"messages": "\xc3\x28"}', "application/json"),
    "deeply-nested": (_NESTED, "application/json"),
    "wrong-content-type": (json.dumps({"messages": []}).encode(), "text/plain"),
    "huge-string": (
        json.dumps(
            {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": f"{INSTANCE} " + "x" * 3_000_000}]}
        ).encode(),
        "application/json",
    ),
    "many-blocks": (
        json.dumps(
            {
                "model": "m",
                "max_tokens": 1,
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": f"{INSTANCE} {i}"} for i in range(20_000)]}
                ],
            }
        ).encode(),
        "application/json",
    ),
    "missing-fields": (b"{}", "application/json"),
    "wrong-types": (
        json.dumps(
            {"model": 5, "max_tokens": "x", "messages": "hello " + INSTANCE, "system": 7, "tools": "no"}
        ).encode(),
        "application/json",
    ),
    "not-an-object": (json.dumps(["hello", INSTANCE]).encode(), "application/json"),
    "empty": (b"", "application/json"),
}
ROUTES = ["/v1/messages", "/v1/messages/count_tokens", "/v1/other/route", "/v1/claude-code", "/maskkit/v1/prove"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", sorted(BODIES))
def test_bad_input_gets_a_clear_error_or_is_forwarded_masked(proxy: Proxy, route: str, name: str) -> None:
    content, content_type = BODIES[name]
    response = httpx.post(
        proxy.url + route, content=content, timeout=60, headers={"x-api-key": proxy.key, "content-type": content_type}
    )
    assert response.status_code != 500, response.text[:500]
    assert "Traceback" not in response.text
    assert INSTANCE not in response.text or response.status_code == 200
    if response.status_code >= 400:
        error = response.json()
        assert error["type"] == "error"
        assert error["error"]["type"] in {
            "invalid_request_error",
            "authentication_error",
            "permission_error",
            "not_found_error",
            "request_too_large",
            "api_error",
        }
        assert error["error"]["message"]
    for request in proxy.model.requests:
        assert INSTANCE.encode() not in request.body, f"{name} on {route} forwarded an original"


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "PATCH"])
def test_other_methods_are_forwarded_or_refused_cleanly(proxy: Proxy, method: str) -> None:
    response = httpx.request(method, proxy.url + "/v1/models", headers={"x-api-key": proxy.key}, timeout=10)
    assert response.status_code in (200, 404, 405)
    if response.status_code != 200:
        assert response.json()["type"] == "error"


def test_unknown_path_outside_the_api_is_a_404_in_the_anthropic_shape(proxy: Proxy) -> None:
    response = httpx.get(proxy.url + "/nope", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
