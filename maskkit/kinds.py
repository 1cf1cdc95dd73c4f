"""The kinds table for people (`maskkit kinds`): every kind, its pseudonym prefix, an example, enabled or not.

Pure: no I/O. The examples are made-up values of AWS's documented shapes (tests/unit/test_kinds.py checks that
the detector finds each example as its kind), never real identifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from maskkit.detect import EC2_PREFIXES, KINDS, LITERAL

__all__ = ["EXAMPLES", "KindRow", "kind_rows"]

#: kind -> a text in which the detector finds that kind (the example shown by `maskkit kinds`).
EXAMPLES: dict[str, str] = {
    "RESOURCE_ID": 'aws_cloudwatch_log_group.app: Refreshing state... [id=app-logs-7f3a]',
    "ACCESS_KEY_ID": "AKIAQ3EGUMZLX7ZRE5WN",
    "SECRET_ACCESS_KEY": "aws_secret_access_key = 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",
    "SESSION_TOKEN": "aws_session_token = IQoJb3JpZ2luX2VjEHAaCXVzLWVhc3QtMSJHMEUCIQD6Xq9Lm3TnVb8Yw2Rk",
    "ACCOUNT_ID": "arn:aws:iam::483920175562:root",
    "ARN_RESOURCE": "arn:aws:states:us-east-1:483920175562:stateMachine:orders",
    "IAM_ROLE": "arn:aws:iam::483920175562:role/deploy-prod",
    "IAM_USER": "arn:aws:iam::483920175562:user/alice.ops",
    "IAM_GROUP": "arn:aws:iam::483920175562:group/platform-admins",
    "IAM_POLICY": "arn:aws:iam::483920175562:policy/read-billing",
    "INSTANCE_PROFILE": "arn:aws:iam::483920175562:instance-profile/web-tier",
    "ROLE_SESSION": "arn:aws:sts::483920175562:assumed-role/deploy-prod/ci-run-4471",
    "LAMBDA_FUNCTION": "arn:aws:lambda:us-east-1:483920175562:function:resize-images",
    "LAMBDA_URL_ID": "https://x4kq7t2mzv9hdl3n8wpbc5sjye0grfua.lambda-url.us-east-1.on.aws/",
    "KMS_KEY_ID": "arn:aws:kms:us-east-1:483920175562:key/1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b",
    "KMS_ALIAS": "arn:aws:kms:us-east-1:483920175562:alias/payments-prod",
    "SNS_TOPIC": "arn:aws:sns:us-east-1:483920175562:order-events",
    "SQS_QUEUE": "https://sqs.us-east-1.amazonaws.com/483920175562/order-queue",
    "DYNAMODB_TABLE": "arn:aws:dynamodb:us-east-1:483920175562:table/Orders",
    "SECRET_NAME": "arn:aws:secretsmanager:us-east-1:483920175562:secret:prod/db-AbCdEf",
    "S3_BUCKET": "s3://acme-prod-logs-2291/2026/",
    "RDS_INSTANCE": "arn:aws:rds:us-east-1:483920175562:db:orders-primary",
    "RDS_RESOURCE_ID": "db-ABCDEFGHIJKLMNOPQRSTUVWXY2",
    "ENDPOINT_HASH": "orders.c9akciq32xyz.us-east-1.rds.amazonaws.com",
    "LOAD_BALANCER": "arn:aws:elasticloadbalancing:us-east-1:483920175562:loadbalancer/app/web-prod/50dc6c495c0c9188",
    "TARGET_GROUP": "arn:aws:elasticloadbalancing:us-east-1:483920175562:targetgroup/web-tg/73e2d6bc24d8a067",
    "LOAD_BALANCER_ID": "arn:aws:elasticloadbalancing:us-east-1:483920175562:loadbalancer/net/api-nlb/50dc6c495c0c9188",
    "HOSTNAME": "ec2-54-210-17-33.compute-1.amazonaws.com",
    "PUBLIC_IP": "54.210.17.33",
    "CLOUDFRONT_ID": "arn:aws:cloudfront::483920175562:distribution/E2QWRUHAPOMQZL",
    "CLOUDFRONT_DOMAIN": "d111111abcdef8.cloudfront.net",
    "HOSTED_ZONE_ID": "arn:aws:route53:::hostedzone/Z08123452ABCDEFGHIJK",
    "API_GATEWAY_ID": "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod",
    "PASSWORD": "postgres://app:S3cr3t-Passw0rd@db.internal:5432/orders",
    "SIGNATURE": "X-Amz-Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    "PEM_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7Vq…\n-----END RSA PRIVATE KEY-----",
    "MASKKIT_KEY": "the proxy key is mk-Vx3q9Lr2Tz8Kp4Wm7Yb1Nc6Hd0Gf5Js2Ae9Qu3Io7Zk",
    "RDS_SNAPSHOT": "--db-snapshot-identifier billing-pg-final-2026",
    "SECRET_VALUE": "S3_SECRET=hx7Kq2vLm9",
    "CANONICAL_USER_ID": '"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"',
    # base64 of `aws_secret_access_key = wJalr…`: a secret in encoded form (found by the masker, which decodes)
    "ENCODED_VALUE": "YXdzX3NlY3JldF9hY2Nlc3Nfa2V5ID0gd0phbHJYVXRuRkVNSS9LN01ERU5HL2JQeFJmaUNZRVhBTVBMRUtFWQ==",
    LITERAL: "ec2-001 (text that already looks like a pseudonym)",
}


def _ec2_example(kind: str) -> str:
    prefix = next(p for p, (k, _) in EC2_PREFIXES.items() if k == kind)
    return f"{prefix}-0a1b2c3d4e5f67890"


@dataclass(frozen=True)
class KindRow:
    kind: str
    prefix: str
    example: str
    enabled: bool


def kind_rows(
    known: Mapping[str, str] | None = None, enabled: frozenset[str] | None = None
) -> list[KindRow]:
    """One row per kind (sorted by name). `known`: kind -> prefix (default: the built-in kinds); `enabled`: the
    MASKKIT_KINDS allowlist (None: all). Pseudonym-shaped literals are always masked."""
    rows = []
    ec2_kinds = {kind for kind, _ in EC2_PREFIXES.values()}
    for kind, prefix in sorted((known or KINDS).items()):
        if kind in EXAMPLES:
            example = EXAMPLES[kind].splitlines()[0]
        elif kind in ec2_kinds:
            example = _ec2_example(kind)
        else:
            example = "(custom pattern)"
        rows.append(KindRow(kind, prefix, example, enabled is None or kind in enabled or kind == LITERAL))
    return rows
