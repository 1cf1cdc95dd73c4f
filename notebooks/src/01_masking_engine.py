# ruff: noqa: E402, B015, B018
# Notebook source (see ../build.py): imports open each cell; a cell's last expression is its displayed output.
# %% [markdown]
# # 01 · The masking engine
#
# **Claim.** `Masker.mask` replaces every kind of AWS identifier and secret maskkit knows with a typed pseudonym
# (`i-0…` → `ec2-001`), and `Masker.unmask` gives back *exactly* the text that was masked — for every input,
# including text that already contains things that look like pseudonyms. The same original always gets the same
# pseudonym, so a conversation re-sent turn after turn masks to the same bytes.
#
# The evidence below runs against a real vault (the embedded Redis, in a throw-away `MASKKIT_HOME`). A fresh
# vault numbers every prefix from `001`, which is why the outputs are the same on every run.

# %%
# Setup: a fresh vault in a throw-away MASKKIT_HOME; nothing from the developer's environment leaks in.
# cleanup() (last cell, or at exit) stops what `started` holds and the embedded Redis, and deletes HOME.
from mktests.notebook import sandbox

HOME, started, cleanup = sandbox()

# %%
from maskkit import Masker

masker = Masker.from_settings()  # MASKKIT_* settings: the embedded Redis in MASKKIT_HOME, a new vault key
result = masker.mask("EC2 i-1234567890abcdef0 and key AKIA1234567890ABCDEF, bucket s3://prod-logs-1234/x")
result

# %%
print(masker.unmask("restart ec2-001 please"))

# %% [markdown]
# ## Every kind, one example each
#
# One example per kind the detector knows (`maskkit.detect.KINDS`). Some kinds are only recognisable from
# their context (`aws_secret_access_key = …`, an ARN, an RDS endpoint); the example then shows that context, and
# the ARN's account id is masked along with the resource name. The account `123456789012` appears in many rows
# and is `acct-001` every time: one original, one pseudonym.

# %%
import pandas as pd

from maskkit.detect.detector import EC2_PREFIXES, KINDS

pd.set_option("display.max_rows", 200)
pd.set_option("display.max_colwidth", 90)
pd.set_option("display.width", 250)

ACCT = "123456789012"
# The EC2 family: `<aws prefix>-<17 hex digits>` (i-, ami-, vpc-, sg-, tgw-attach-, …).
examples = {
    kind: f"{aws}-0{n:02x}3f4a5b6c7d8e9f0"[: len(aws) + 18] for n, (aws, (kind, _)) in enumerate(EC2_PREFIXES.items())
}
examples.update(
    {
        "RESOURCE_ID": "zzz-0a1b2c3d4e5f60718",  # an EC2-shaped id with a prefix maskkit does not know
        "ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "SECRET_ACCESS_KEY": "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "SESSION_TOKEN": "aws_session_token = IQoJb3JpZ2luX2VjEXAMPLETOKENvalue0123456789abcdefXYZ=",
        "ACCOUNT_ID": f"account_id = {ACCT}",
        "ARN_RESOURCE": f"arn:aws:codecommit:eu-west-1:{ACCT}:payments-repo",
        "IAM_ROLE": f"arn:aws:iam::{ACCT}:role/deploy-prod",
        "IAM_USER": f"arn:aws:iam::{ACCT}:user/jane.doe",
        "IAM_GROUP": f"arn:aws:iam::{ACCT}:group/platform-admins",
        "IAM_POLICY": f"arn:aws:iam::{ACCT}:policy/s3-read-logs",
        "INSTANCE_PROFILE": f"arn:aws:iam::{ACCT}:instance-profile/web-tier",
        "ROLE_SESSION": f"arn:aws:sts::{ACCT}:assumed-role/deploy-prod/jenkins-4711",
        "LAMBDA_FUNCTION": f"arn:aws:lambda:eu-west-1:{ACCT}:function:invoice-mailer",
        "LAMBDA_URL_ID": "https://abcdefghij0123456789klmnopqrstuv.lambda-url.eu-west-1.on.aws/",
        "KMS_KEY_ID": "kms_key_id = 1234abcd-12ab-34cd-56ef-1234567890ab",
        "KMS_ALIAS": f"arn:aws:kms:eu-west-1:{ACCT}:alias/payments-key",
        "SNS_TOPIC": f"arn:aws:sns:eu-west-1:{ACCT}:billing-alerts",
        "SQS_QUEUE": f"https://sqs.eu-west-1.amazonaws.com/{ACCT}/orders-dlq",
        "DYNAMODB_TABLE": "table_name = orders-prod",
        "SECRET_NAME": f"arn:aws:secretsmanager:eu-west-1:{ACCT}:secret:prod/db-password-AbCdEf",
        "S3_BUCKET": "s3://acme-prod-logs/2024/",
        "RDS_INSTANCE": "orders-db.c9akciq32xyz.eu-west-1.rds.amazonaws.com",
        "RDS_RESOURCE_ID": "DbiResourceId: db-ABCDEFGHIJKLMNOPQRSTUVWXY2",
        "ENDPOINT_HASH": "billing-db.cx0pq1rs2tuv.eu-west-1.rds.amazonaws.com",
        "LOAD_BALANCER": "web-alb-1234567890.eu-west-1.elb.amazonaws.com",
        "TARGET_GROUP": f"arn:aws:elasticloadbalancing:eu-west-1:{ACCT}:targetgroup/web-tg/0123456789abcdef",
        "LOAD_BALANCER_ID": "api-nlb-0a1b2c3d4e5f6a7b.elb.eu-west-1.amazonaws.com",
        "HOSTNAME": "ec2-52-95-110-1.eu-west-1.compute.amazonaws.com",
        "PUBLIC_IP": "52.95.110.1",
        "CLOUDFRONT_ID": "E2QWRUHAP0MQ7L",
        "CLOUDFRONT_DOMAIN": "d111111abcdef8.cloudfront.net",
        "HOSTED_ZONE_ID": "Z1D633PJN98FT9",
        "API_GATEWAY_ID": "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
        "PASSWORD": "postgres://app:S3cr3t-Passw0rd@db.internal:5432/app",
        "SIGNATURE": "X-Amz-Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "PEM_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAexample\n-----END RSA PRIVATE KEY-----",
        "MASKKIT_KEY": "the proxy key is mk-Vx3q9Lr2Tz8Kp4Wm7Yb1Nc6Hd0Gf5Js2Ae9Qu3Io7Zk",
        "RDS_SNAPSHOT": "aws rds restore-db-instance-from-db-snapshot --db-snapshot-identifier billing-pg-final",
        "SECRET_VALUE": "S3_SECRET=hx7Kq2vLm9",
        "CANONICAL_USER_ID": '"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"',
        # base64 of "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": a secret in encoded form
        "ENCODED_VALUE": "YXdzX3NlY3JldF9hY2Nlc3Nfa2V5ID0gd0phbHJYVXRuRkVNSS9LN01ERU5HL2JQeFJmaUNZRVhBTVBMRUtFWQ==",
        "PSEUDONYM_LITERAL": "ec2-001",
    }
)
missing = set(KINDS) - set(examples)
assert not missing, f"kinds without an example here: {sorted(missing)} (add one to `examples`)"

rows = []
for kind in KINDS:
    masked = masker.mask(examples[kind])
    rows.append(
        {
            "kind": kind,
            "example": examples[kind].replace("\n", "⏎"),
            "masked": masked.text.replace("\n", "⏎"),
            "detected": kind in [k for k, _ in masked.pseudonyms],
            "round trip": masker.unmask(masked.text) == examples[kind],
        }
    )
table = pd.DataFrame(rows)
table

# %%
print(f"{len(table)} kinds")
print("every one detected:", table["detected"].all())
print("every one restored:", table["round trip"].all())

# %% [markdown]
# ## Round trip on an adversarial sample
#
# Text that already contains pseudonym-shaped tokens (`ec2-001`, upper case `EC2-002`, a Unicode hyphen, a
# four-digit `ec2-0010`), identifiers glued to punctuation and quotes, JSON escapes, non-ASCII text and an unpaired
# surrogate. `unmask(mask(x)) == x` must hold for all of it: the pseudonym-shaped literals are masked themselves
# (kind `PSEUDONYM_LITERAL`, prefix `lit`), so nothing the user wrote can be mistaken for a pseudonym on the way
# back.

# %%
sample = (
    "ticket: ec2-001 is down (that is our name for i-0aa11bb22cc33dd44, not a pseudonym!)\n"
    'json: {"InstanceId":"i-0aa11bb22cc33dd44","Owner":"EC2-002","Note":"ec2\u2010003 ≠ ec2-0010"}\n'
    "glued: (sg-0123456789abcdef0),vpc-0fedcba9876543210; 'AKIAIOSFODNN7EXAMPLE'\n"
    "url: https://s3.amazonaws.com/acme-prod-logs/key?X-Amz-Signature=" + "ab" * 32 + "\n"
    "unicode: Überprüfe i-0aa11bb22cc33dd44 → 52.95.110.1 \U0001f680, lone surrogate \udcff end"
)
masked = masker.mask(sample)
print(masked.text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))

# %%
masker.unmask(masked.text) == sample

# %%
masked.pseudonyms

# %% [markdown]
# The user's own `ec2-001` became `lit-001`, and the real instance became a *different* `ec2-…` number, so the
# model can tell them apart and the way back is unambiguous.
#
# ## Stability: the same text, the same pseudonyms
#
# Masking again — in this masker, or in a new one that shares nothing but the vault (as another process would) —
# gives the same bytes. New originals get the next free numbers.

# %%
again = masker.mask(sample)
other_process = Masker.from_settings()  # a new Masker: no caches, the same vault
print(again.text == masked.text, other_process.mask(sample).text == masked.text)

# %%
masker.mask("a new instance i-0ffffffffffffffff next to a known one i-0aa11bb22cc33dd44")

# %% [markdown]
# ## A pseudonym the vault never issued stays as written
#
# `unmask` restores only pseudonyms this namespace issued. A token that merely looks like one — a model guessing
# `ec2-017` — comes back unchanged, and so does a pseudonym inside a longer token.

# %%
print(masker.unmask("ec2-002 is fine, ec2-017 was never issued, ec2-0020 is not a whole token, EC2-002 is"))

# %%
# Cleanup: stop the embedded Redis and delete the throw-away vault.
other_process.vault.close()
masker.vault.close()
cleanup()
print("vault stopped:", not (HOME / "redis.sock").exists())
