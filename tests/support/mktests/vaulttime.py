"""Time passing in the vault without waiting for it: expiry and the sliding refresh tested with no sleep.

What time changes in a vault is the TTL of its keys and nothing else (mappings expire in Redis; the pseudonym
counters never do). `let_time_pass` shortens every expiring key's TTL by the same amount with PEXPIRE, which is
exactly what waiting does, and a key whose TTL runs out is deleted as Redis would expire it. A real redis-server,
no DEBUG command, no clock inside maskkit to fake.
"""

from __future__ import annotations

import redis


def let_time_pass(client: redis.Redis, seconds: float, match: str = "mk:*") -> None:
    """As if `seconds` had passed for every key matching `match`: keys without a TTL are left alone."""
    elapsed = round(seconds * 1000)
    for key in list(client.scan_iter(match=match, count=1000)):
        left = client.pttl(key)
        if left < 0:  # -1: never expires, -2: gone meanwhile
            continue
        if left <= elapsed:
            client.delete(key)
        else:
            client.pexpire(key, left - elapsed)
