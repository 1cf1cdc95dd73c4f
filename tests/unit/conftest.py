"""Unit-test session hooks: a test module may start slow background work (a child process) as soon as the
session has collected it, so the work overlaps the tests that run before it (`start_in_background()`), and has it
stopped at the end (`stop_background()`). Used by test_layers.py, whose clean-interpreter import probes take a few
seconds of mostly import time."""

from __future__ import annotations

import types

import pytest


def _modules(session: pytest.Session) -> list[types.ModuleType]:
    found = {id(m): m for item in session.items if isinstance(m := getattr(item, "module", None), types.ModuleType)}
    return list(found.values())


def pytest_collection_finish(session: pytest.Session) -> None:
    for module in _modules(session):
        start = getattr(module, "start_in_background", None)
        if callable(start):
            start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    for module in _modules(session):
        stop = getattr(module, "stop_background", None)
        if callable(stop):
            stop()
