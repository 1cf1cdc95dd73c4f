"""The public API is what `maskkit.__all__` lists: pinned here, so a change to it is a deliberate one."""

from __future__ import annotations

import maskkit


def test_the_public_names_are_exactly_these() -> None:
    assert sorted(maskkit.__all__) == [
        "ConfigError",
        "DetectionError",
        "Detector",
        "Entry",
        "MaskResult",
        "Masker",
        "MaskkitError",
        "Restorer",
        "Settings",
        "Span",
        "StreamError",
        "UnknownPseudonym",
        "UpstreamError",
        "Vault",
        "VaultError",
        "VaultFull",
        "VaultKeyError",
        "VaultUnavailable",
        "__version__",
        "audit",
        "load_ipython_extension",
        "load_settings",
        "unload_ipython_extension",
    ]


def test_every_public_name_exists() -> None:
    missing = [name for name in maskkit.__all__ if not hasattr(maskkit, name)]
    assert missing == []


def test_a_mask_result_never_shows_originals_in_its_repr() -> None:
    result = maskkit.MaskResult("ec2-001 is down", {"ec2-001": "i-0123456789abcdef0"}, {"ec2-001": "INSTANCE_ID"})
    assert "i-0123456789abcdef0" not in repr(result)
    assert result.pseudonyms == [("INSTANCE_ID", "ec2-001")]
