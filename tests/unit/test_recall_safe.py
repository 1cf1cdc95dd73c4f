"""`recall_safe(kind, original)`: which originals may be masked anywhere, without context. A table of
(kind, original, expected) with the near-misses on each side of every part of the rule."""

from __future__ import annotations

import pytest

from maskkit.core.recall_safe import COMMON_WORDS, SECRET_KINDS, is_aws_public_name, recall_safe

ROWS: list[tuple[str, str, bool]] = [
    # Secrets: 8+ characters, whatever their shape.
    ("SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", True),
    ("PASSWORD", "hunter22", True),
    ("PASSWORD", "password", True),  # a secret of 8 characters is masked everywhere, even a weak one
    ("PASSWORD", "hunter2", False),  # 7: too short to spread
    ("SESSION_TOKEN", "IQoJb3JpZ2luX2VjEHIaCXVzLWVhc3QtMSJHMEUCIQD", True),
    ("ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", True),
    ("SIGNATURE", "a" * 64, True),
    ("PEM_PRIVATE_KEY", "MIIEowIBAAKCAQEA", True),
    ("SECRET_VALUE", "s3cr3t-value", True),
    # Pseudonym-shaped literals: never.
    ("PSEUDONYM_LITERAL", "ec2-001", False),
    ("PSEUDONYM_LITERAL", "a-very-long-literal-0001", False),
    # Names and ids with a distinctive shape.
    ("INSTANCE_ID", "i-0123456789abcdef0", True),
    ("S3_BUCKET", "acme-billing-exports-7731", True),
    ("RDS_INSTANCE", "billing-pg", True),
    ("IAM_ROLE", "deploy_role", True),
    ("IAM_USER", "ann.smith", True),
    ("ACCOUNT_ID", "410295837716", True),
    ("PUBLIC_IP", "52.94.1.17", True),
    ("LOAD_BALANCER", "web01x", True),
    # Too short, plain words, CamelCase without digit or separator, short numbers.
    ("IAM_USER", "Ann", False),
    ("IAM_USER", "bob-1", False),  # 5 characters
    ("IAM_ROLE", "DeployRole", False),
    ("RDS_INSTANCE", "payroll", False),
    ("LOAD_BALANCER_ID", "123456", False),
    ("LOAD_BALANCER_ID", "123456789", False),
    ("ACCOUNT_ID", "1234567890", True),
    ("SECRET_NAME", "my secret", False),
    # Ordinary words, even with a separator or a digit.
    ("RDS_INSTANCE", "default", False),
    ("IAM_USER", "admin", False),
    ("S3_BUCKET", "buckets", False),
    ("IAM_ROLE", "read-only", False),
    ("LAMBDA_FUNCTION", "python3.12", False),
    ("RDS_INSTANCE", "Staging", False),
    ("RDS_INSTANCE", "staging-2", True),
    # Regions, AZs, local and wavelength zones, AZ ids, partitions, services.
    ("IAM_GROUP", "us-west-2", False),
    ("IAM_GROUP", "us-west-2a", False),
    ("IAM_GROUP", "us-gov-west-1", False),
    ("IAM_GROUP", "eu-central-1-ham-1a", False),
    ("IAM_GROUP", "us-west-2-lax-1a", False),
    ("IAM_GROUP", "us-east-1-wl1-bos-wlz-1", False),
    ("IAM_GROUP", "use1-az1", False),
    ("IAM_GROUP", "usw2-lax1-az1", False),
    ("IAM_GROUP", "aws-us-gov", False),
    ("IAM_GROUP", "execute-api", False),
    ("IAM_GROUP", "lambda.amazonaws.com", False),
    ("IAM_GROUP", "us-west-2-billing", True),  # a name that starts with a region is still a name
    # AWS managed policy names.
    ("IAM_POLICY", "AmazonS3ReadOnlyAccess", False),
    ("IAM_POLICY", "AmazonEC2FullAccess", False),
    ("IAM_POLICY", "service-role/AWSLambdaBasicExecutionRole", False),
    ("IAM_POLICY", "job-function/ViewOnlyAccess", False),
    ("IAM_POLICY", "AdministratorAccess", False),
    ("IAM_POLICY", "acme-s3-read-only", True),
]


@pytest.mark.parametrize(
    ("kind", "original", "expected"), [pytest.param(*row, id=f"{row[0]}:{row[1][:30]}") for row in ROWS]
)
def test_recall_safe_table(kind: str, original: str, expected: bool) -> None:
    assert recall_safe(kind, original) is expected


def test_empty_original_is_never_recall_safe() -> None:
    assert not any(recall_safe(kind, "") for kind in (*SECRET_KINDS, "S3_BUCKET"))


def test_common_words_are_lower_case_and_never_recall_safe() -> None:
    for word in COMMON_WORDS:
        assert word == word.lower()
        assert not recall_safe("RDS_INSTANCE", word)
        assert not recall_safe("RDS_INSTANCE", word.upper())


def test_every_region_of_every_partition_is_an_aws_public_name() -> None:
    for region in (
        "us-east-1",
        "eu-west-3",
        "ap-southeast-5",
        "me-central-1",
        "il-central-1",
        "mx-central-1",
        "cn-northwest-1",
        "us-iso-east-1",
        "us-isob-east-1",
        "eusc-de-east-1",
        "ca-west-1",
    ):
        assert is_aws_public_name(region)
        assert is_aws_public_name(region + "b")
