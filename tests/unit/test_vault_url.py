"""Which MASKKIT_REDIS_URL selects Redis Cluster, and how its seed nodes are read (pure: no server)."""

from __future__ import annotations

import pytest

from maskkit.errors import ConfigError
from maskkit.vault.store import _cluster_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", None),
        ("rediss://cache.example:6380", None),
        ("unix:///tmp/redis.sock", None),
        ("redis+cluster://127.0.0.1:7000", ("redis://127.0.0.1:7000", [])),
        ("REDIS+CLUSTER://h:7000", ("redis://h:7000", [])),
        (
            "rediss+cluster://user:p%40ss@a.example:7000,b.example:7001,[::1]:7002/?ssl_cert_reqs=required",
            ("rediss://user:p%40ss@a.example:7000/?ssl_cert_reqs=required", [("b.example", 7001), ("::1", 7002)]),
        ),
        ("redis+cluster://h1:7000,h2", ("redis://h1:7000", [("h2", 6379)])),
        ("redis+cluster://h1?socket_keepalive=true", ("redis://h1?socket_keepalive=true", [])),
    ],
)
def test_cluster_url_selects_cluster_mode_and_reads_every_seed(
    url: str, expected: tuple[str, list[tuple[str, int]]] | None
) -> None:
    assert _cluster_url(url) == expected


@pytest.mark.parametrize("url", ["redis+cluster://", "redis+cluster://h:port", "redis+cluster://user:secret@"])
def test_a_bad_cluster_url_is_a_config_error_that_names_no_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _cluster_url(url)
    assert "secret" not in str(caught.value) and "MASKKIT_REDIS_URL" in str(caught.value)
