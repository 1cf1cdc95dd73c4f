"""Keys read on by the key/value scanner: those with rules, and plurals whose singular has rules (a list after
them is judged by it). A plural whose singular has none (`Tags`, `Status`, `https`) is dropped before it is read,
and the values found stay the same: the lists of `TableNames`, `LoadBalancerNames`, `Buckets` included."""

from __future__ import annotations

from maskkit.detect._view import TextView
from maskkit.detect.detector import Detector, _key_spans

TEXT = """{
  "TableNames": ["billing-ledger-001", "payroll-archive-7"],
  "Tags": [{"Key": "team", "Value": "payments"}],
  "Status": "available",
  "LoadBalancerNames": ["web-prod-alb-01"],
  "Groups": ["admins"],
  "GroupName": "ops-breakglass-7",
  "url": "https://example.com/x"
}
"""


def _read_every_key(detector: Detector, ascii: bytes) -> list[int]:
    return [start for start, _ in _key_spans(ascii)]


def test_plurals_without_a_singular_rule_are_not_read_and_nothing_is_lost() -> None:
    detector = Detector()
    view = TextView(TEXT)
    read = detector._keys_to_read(view.ascii)
    keys = [TEXT[start : TEXT.index('"', start)] for start in read]
    assert "TableNames" in keys and "LoadBalancerNames" in keys and "GroupName" in keys
    assert "Tags" not in keys and "Status" not in keys
    found = [TEXT[span.start : span.end] for span in detector._field_spans(TEXT, view)]
    assert {"billing-ledger-001", "payroll-archive-7", "web-prod-alb-01", "ops-breakglass-7"} <= set(found)


def test_reading_every_key_finds_the_same_values() -> None:
    detector, every = Detector(), Detector()
    object.__setattr__(every, "_keys_to_read", lambda ascii: _read_every_key(every, ascii))
    assert len(_key_spans(TextView(TEXT).ascii)) > len(detector._keys_to_read(TextView(TEXT).ascii))
    assert list(detector._field_spans(TEXT, TextView(TEXT))) == list(every._field_spans(TEXT, TextView(TEXT)))
