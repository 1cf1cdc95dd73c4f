"""`maskkit.pieces`: cutting a text into owned parts with overlapping windows, and mapping work over forked
children. The fork checks run in a fresh interpreter (one thread: the only kind of process that forks)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

from hypothesis import given
from hypothesis import strategies as st

from maskkit import pieces

LINES = st.lists(st.text(alphabet="ab -\t", max_size=30), max_size=60).map("\n".join)


@given(text=LINES, count=st.integers(1, 6), reach=st.integers(0, 80), first=st.sampled_from([1.0, 1.2, 2.0]))
def test_parts_tile_the_text_and_cut_at_line_starts(text: str, count: int, reach: int, first: float) -> None:
    parts = pieces.parts(text, count, reach, first)
    assert 1 <= len(parts) <= count
    assert parts[0].own_start == 0 and parts[-1].own_end == len(text)
    for before, after in itertools.pairwise(parts):
        assert before.own_end == after.own_start  # the owned parts tile the text
    for part in parts:
        assert part.own_start < part.own_end or len(text) == 0
        for cut in (part.own_start, part.start):
            assert cut == 0 or text[cut - 1] == "\n"  # never inside a line
        assert part.end == len(text) or text[part.end - 1] == "\n"
        # The window reaches at least `reach` characters past the owned part on both sides.
        assert part.start <= max(0, part.own_start - reach)
        assert part.end >= min(len(text), part.own_end + reach)


def test_the_first_part_is_the_larger_by_its_share() -> None:
    text = "".join(f"line {n:05d}\n" for n in range(11_000))  # 11 characters a line
    even = pieces.parts(text, 2, 0)
    larger = pieces.parts(text, 2, 0, first=1.2)
    assert abs(even[0].own_end - len(text) / 2) <= 11
    assert abs(larger[0].own_end - len(text) * 1.2 / 2.2) <= 11


def test_a_text_without_line_breaks_is_one_part() -> None:
    assert len(pieces.parts("x" * 1000, 4, 10)) == 1


_FORK_SCRIPT = textwrap.dedent(
    """
    import os, sys, threading
    from maskkit import pieces

    parent = os.getpid()
    assert pieces.can_fork(), "a fresh interpreter on 2+ CPUs can fork"
    pids = pieces.map_in_children(lambda arg: (arg, os.getpid()), [0, 1, 2])
    assert [arg for arg, _ in pids] == [0, 1, 2]
    assert pids[0][1] == parent and all(pid != parent for _, pid in pids[1:]), pids

    def dies_in_a_child(arg):  # a child that fails has its piece done by the parent: nothing is lost
        if os.getpid() != parent:
            os._exit(3)
        return arg * 10
    assert pieces.map_in_children(dies_in_a_child, [1, 2, 3]) == [10, 20, 30]

    def raises_in_a_child(arg):
        if os.getpid() != parent:
            raise RuntimeError("secret-looking AKIAIOSFODNN7EXAMPLE")
        return arg
    assert pieces.map_in_children(raises_in_a_child, [1, 2]) == [1, 2]

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:  # with another thread running, nothing forks
        assert not pieces.can_fork()
        assert {pid for _, pid in pieces.map_in_children(lambda arg: (arg, os.getpid()), [0, 1])} == {parent}
    finally:
        stop.set()
        thread.join()
    try:  # every child was collected
        os.waitpid(-1, os.WNOHANG)
        raise AssertionError("a child was left behind")
    except ChildProcessError:
        pass
    print("ok")
    """
)


def test_children_compute_the_pieces_and_a_failed_child_loses_nothing() -> None:
    if pieces.usable_cpus() < 2:
        raise AssertionError("this machine has one usable CPU: the fork path cannot be tested here")
    done = subprocess.run([sys.executable, "-c", _FORK_SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert "AKIA" not in done.stderr  # a child's exception is never printed
