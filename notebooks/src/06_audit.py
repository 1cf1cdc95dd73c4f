# ruff: noqa: E402, B018
# Notebook source (see ../build.py): imports open each cell; a cell's last expression is its displayed output.
# %% [markdown]
# # 06 · Auditing the vault with pandas
#
# **Claim.** `maskkit.audit()` returns every live mapping of the vault as a pandas DataFrame — namespace,
# pseudonym, kind, first and last use, TTL left, uses — with the originals **redacted** (`i-0a…f00`: at least
# half of every value hidden, short values fully) unless `reveal=True` is asked for explicitly. The frame is
# typed and sorted, so the usual pandas tools (filters, `groupby`, plots) work on it directly.
#
# A fixed set of fake AWS texts is masked into a fresh vault (embedded Redis, throw-away `MASKKIT_HOME`), so
# pseudonyms, counts and redactions are the same on every run; timestamps and TTLs are checked, not printed.

# %%
# Setup: a fresh vault in a throw-away MASKKIT_HOME; nothing from the developer's environment leaks in.
# cleanup() (last cell, or at exit) stops what `started` holds and the embedded Redis, and deletes HOME.
import logging

from mktests.notebook import sandbox

HOME, started, cleanup = sandbox()
logging.getLogger("matplotlib").setLevel(logging.ERROR)  # no "building the font cache" notice on a fresh machine

# %% [markdown]
# ## Some masked work, in two namespaces

# %%
from maskkit import Masker

texts = {
    "default": [
        "aws ec2 describe-instances --instance-ids i-0a1b2c3d4e5f60718 i-0fedcba9876543210",
        "SecurityGroups: sg-0123456789abcdef0, sg-0aaaabbbbccccdddd in vpc-0a1b2c3d4e5f67890",
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "arn:aws:iam::123456789012:role/deploy-prod assumed by i-0a1b2c3d4e5f60718",
        "logs in s3://acme-prod-logs/2024/ from 52.95.110.1",
    ],
    "team-b": [
        "i-0a1b2c3d4e5f60718 is also known to team b, as their own pseudonym",
        "db: orders-db.c9akciq32xyz.eu-west-1.rds.amazonaws.com",
    ],
}
masker = Masker.from_settings()
for namespace, batch in texts.items():
    for text in batch:
        print(f"{namespace:8} {masker.for_namespace(namespace).mask(text).text}")

# %% [markdown]
# ## `maskkit.audit()`
#
# Every namespace, every kind. The time and TTL columns change from run to run, so they are checked below
# rather than shown.

# %%
import pandas as pd

from maskkit import audit

df = audit()
df.drop(columns=["first_seen", "last_seen", "ttl_seconds"])

# %%
df.dtypes

# %%
now = pd.Timestamp.now(tz="UTC")
print("first_seen <= last_seen         :", (df.first_seen <= df.last_seen).all())
print("all first seen in the last hour :", ((now - df.first_seen) < pd.Timedelta(hours=1)).all())
print("TTL left close to one week      :", df.ttl_seconds.between(7 * 86400 - 600, 7 * 86400).all())
print("an original in the frame        :",
      any(original in df.to_csv() for original in ("i-0a1b2c3d4e5f60718", "AKIAIOSFODNN7EXAMPLE", "123456789012")))

# %% [markdown]
# ## Mappings per kind
#
# As text (the comparable evidence) and as a bar chart.

# %%
per_kind = df.groupby("kind").size().sort_values(ascending=False, kind="stable")  # ties stay alphabetical
per_kind

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 3.5), dpi=80)
per_kind.iloc[::-1].plot.barh(ax=ax, color="#4c72b0")  # largest on top
ax.set_xlabel("live mappings")
ax.set_ylabel("")
ax.set_title("maskkit vault: mappings per kind")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Filters, and revealing on purpose
#
# `namespace=` and `kind=` filter in the vault scan; `reveal=True` decrypts the originals (here fake ones).
# Revealing is never the default: a DataFrame is easy to print, save or send by accident.

# %%
audit(namespace="team-b")[["namespace", "pseudonym", "kind", "hits", "original"]]

# %%
audit(kind="INSTANCE_ID", reveal=True)[["namespace", "pseudonym", "hits", "original"]]

# %%
# Cleanup: stop the embedded Redis and delete the throw-away vault.
plt.close("all")
masker.vault.close()
cleanup()
print("vault stopped:", not (HOME / "redis.sock").exists())
