# ruff: noqa: E402
# Notebook source (see ../build.py): imports open each cell; a cell's last expression is its displayed output.
# %% [markdown]
# # 02 · The vault
#
# **Claim.** The vault that remembers `pseudonym ↔ original` is
#
# 1. **temporary**: a mapping lives `MASKKIT_TTL` seconds after its *last use*; using it slides the window, an
#    idle one expires, and an expired pseudonym is never handed out again;
# 2. **encrypted at rest**: Redis never holds an original — not in a key, not in a value, not in its files on
#    disk — only AES-GCM ciphertext and an HMAC index;
# 3. **split by namespace**: two namespaces number independently, and one cannot resolve the other's pseudonyms.
#
# Everything below reads the real Redis server the vault uses (maskkit's embedded one, in a throw-away
# `MASKKIT_HOME`), with the TTL shortened to 3 seconds.

# %%
# Setup: a fresh vault in a throw-away MASKKIT_HOME with a 3-second TTL; nothing from the developer's environment.
# cleanup() (last cell, or at exit) stops what `started` holds and the embedded Redis, and deletes HOME.
import os

from mktests.notebook import sandbox

HOME, started, cleanup = sandbox(MASKKIT_TTL="3")

# %%
from maskkit import Masker, UnknownPseudonym

masker = Masker.from_settings()
vault = masker.vault
print("TTL:", vault.ttl, "seconds")


def state(pseudonym: str, namespace: str = "default") -> str:
    """Alive or expired, with the TTL shown coarsely (its exact value depends on when you look)."""
    try:
        entry = vault.lookup(namespace, pseudonym)
    except UnknownPseudonym:
        return f"{pseudonym}: expired"
    return f"{pseudonym}: alive, 0 < ttl <= 3: {0 < entry.ttl_seconds <= 3}, uses: {entry.hits}"


# %% [markdown]
# ## 1 · TTL and the sliding refresh
#
# Two instances are masked at the same moment. After 1.5 s only the first one is used again (the conversation
# that mentions it is re-sent); 2 s later the used one is alive (idle for 2 s) and the idle one has expired (idle
# for 3.5 s). Nothing sleeps: time passes in Redis with `PEXPIRE` (`let_time_pass` shortens every expiring key's
# TTL by the elapsed time, which is all that waiting changes in the vault), so a slow machine cannot change the
# outcome. This process also refreshes a mapping it uses at most once per TTL/100 of its own clock; that window is
# set to 0 here, so every use goes to the vault.

# %%
import redis
from mktests.vaulttime import let_time_pass

clock = redis.Redis(unix_socket_path=str(HOME / "redis.sock"))
masker.refresh_seconds = 0
used = masker.mask("web server i-0aaaaaaaaaaaaaaa1").text
idle = masker.mask("batch host i-0bbbbbbbbbbbbbbb2").text
print(used, "|", idle)
print(state("ec2-001"))
print(state("ec2-002"))

# %%
let_time_pass(clock, 1.5)
print(masker.mask("web server i-0aaaaaaaaaaaaaaa1").text, "(used again: its TTL starts over)")
print(state("ec2-001"))
print(state("ec2-002"))

# %%
let_time_pass(clock, 2.0)
print(state("ec2-001"))
print(state("ec2-002"))
print("unmask('ec2-001 and ec2-002') ->", masker.unmask("ec2-001 and ec2-002"))
clock.close()

# %% [markdown]
# The expired pseudonym no longer restores (it comes back as written), and masking its original again issues a
# **new** number: `ec2-002` is never reused, so an old transcript that still says `ec2-002` can never come to
# mean a different instance.

# %%
print(masker.mask("batch host i-0bbbbbbbbbbbbbbb2").text)

# %% [markdown]
# ## 2 · Encryption at rest: what Redis actually holds
#
# One original, masked in its own namespace `at-rest`, then every key Redis holds for it, read with a plain
# Redis client. Volatile values (the random nonce, the HMAC id, timestamps) are described rather than printed.

# %%
import redis

from maskkit import load_settings

# The rest of the notebook uses the default TTL (a week), so nothing expires while we look at it.
masker = Masker.from_settings(load_settings({**os.environ, "MASKKIT_TTL": "604800"}))
vault.close()
vault = masker.vault
original = "i-0123456789abcdef0"
at_rest = masker.for_namespace("at-rest")
print(at_rest.mask(f"instance {original}").text)

raw = redis.Redis(unix_socket_path=str(HOME / "redis.sock"))
forward = raw.hgetall("mk:{at-rest}:f")  # the forward index: one hash per namespace
(mapping_key,) = raw.keys("mk:{at-rest}:p:*")
row = raw.hgetall(mapping_key)
hmac_id = row[b"i"].decode()

print("keys of namespace at-rest:")
for key in sorted(raw.scan_iter("mk:{at-rest}:*")):
    shown = key.decode().replace(hmac_id, "<HMAC id>")
    print(f"  {shown:<28} {raw.type(key).decode():<6} expires: {raw.ttl(key) > 0}")
print()
print("HGETALL mk:{at-rest}:f:")
for field, value in sorted(forward.items()):
    print(f"  {field.decode().replace(hmac_id, '<HMAC id>'):<10} {value.decode()}")
print(f"HGETALL {mapping_key.decode()}:")
cipher = row[b"c"]
print(f"  c  {len(cipher)} bytes = 12 nonce + {len(cipher) - 28} ciphertext + 16 tag", end="")
print(f" (AES-256-GCM; the original has {len(original)} characters)")
code = raw.hget("mk:{at-rest}:kinds", "INSTANCE_ID").decode()
print(f"  k  {row[b'k'].decode()!r}  (kind code; mk:{{at-rest}}:kinds maps it back: {code!r} = INSTANCE_ID)")
print(f"  f  <unix time>  first seen (an integer: {row[b'f'].decode().isdigit()})")
print(f"  l  <unix time>  last seen (an integer: {row[b'l'].decode().isdigit()})")
print(f"  h  {row[b'h'].decode()!r}  uses")
print(f"  i  <HMAC id>  the same id as the forward index's field: {forward.get(hmac_id.encode()) == b'ec2-001'}")
print(f"the HMAC id: {len(hmac_id)} characters (96 bits of HMAC-SHA256 over namespace, kind and original)")

# %% [markdown]
# Now the proof: no original is **a substring** of anything Redis holds — every key name, every value of every
# type, in every namespace — nor of Redis' files on disk (after a `SAVE`, so the RDB file is current too). The
# positive control shows the check can see things: the pseudonym *is* found, and the vault key *does* decrypt
# the original.


# %%
def everything(client: redis.Redis) -> list[bytes]:
    """Every key name and every value Redis holds, as bytes."""
    blobs = []
    for key in client.scan_iter("*"):
        blobs.append(key)
        kind = client.type(key)
        if kind == b"string":
            blobs.append(client.get(key))
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():
                blobs += [field, value]
        elif kind == b"set":
            blobs += list(client.smembers(key))
    return blobs


raw.save()
in_memory = everything(raw)
on_disk = {p.name: p.read_bytes() for p in sorted(HOME.rglob("*")) if p.is_file() and p.name != "vault.key"}
# Every original this notebook has masked so far, in any namespace.
originals = [original, "i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"]
print("an original in a Redis key or value:", any(o.encode() in b for o in originals for b in in_memory))
print(f"files on disk: {sorted(on_disk)}")
print("an original in a file on disk   :", any(o.encode() in d for o in originals for d in on_disk.values()))
print("positive control: pseudonym found in Redis:", any(b"ec2-001" in b for b in in_memory),
      "| decrypted with the vault key:", vault.lookup("at-rest", "ec2-001", reveal=True).original == original)

# %% [markdown]
# ## 3 · Namespaces
#
# Two teams share one vault. Each namespace numbers its own pseudonyms: the instance `team-a` knows as `ec2-002`
# is `ec2-001` for `team-b`, which saw it first. `team-b` cannot resolve `team-a`'s `ec2-002`: to `team-b` it
# is just text.

# %%
team_a = masker.for_namespace("team-a")
team_b = masker.for_namespace("team-b")
shared = "i-0cccccccccccccccc"
print("team-a:", team_a.mask(f"i-0aaaaaaaaaaaaaaaa then {shared}").text)
print("team-b:", team_b.mask(f"{shared}").text)
print()
print("team-b unmasks 'ec2-001, ec2-002':", team_b.unmask("ec2-001, ec2-002"))
print("team-a unmasks 'ec2-001, ec2-002':", team_a.unmask("ec2-001, ec2-002"))
try:
    vault.lookup("team-b", "ec2-002")
except UnknownPseudonym as exc:
    print("lookup team-b/ec2-002:", type(exc).__name__, "-", exc)

# %% [markdown]
# The ciphertext is bound to its namespace (it is the AES-GCM associated data), so even someone who can write to
# Redis cannot move `team-a`'s row into `team-b` to have it revealed there: decryption fails, and maskkit fails
# closed with `VaultKeyError` instead of returning anything.

# %%
from maskkit import VaultKeyError

stolen = raw.hgetall("mk:{team-a}:p:ec2-002")
raw.hset("mk:{team-b}:p:ec2-002", mapping=stolen)
try:
    team_b.unmask("ec2-002")
except VaultKeyError as exc:
    print(type(exc).__name__, "-", exc)
_ = raw.delete("mk:{team-b}:p:ec2-002")

# %%
# Cleanup: stop the embedded Redis and delete the throw-away vault.
raw.close()
vault.close()
cleanup()
print("vault stopped:", not (HOME / "redis.sock").exists())
