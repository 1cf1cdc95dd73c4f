"""Detector tables: (text, expected [(kind, matched text)]) for every kind, in the contexts AWS output uses, with
the near-misses that must be left alone. Then user rules, `enabled`, and properties tying the fast scanners to the
plain regexes they replace."""

from __future__ import annotations

import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mktests import awsgen
from mktests.purehelpers import examples

from maskkit.detect import detector as detectors
from maskkit.detect.detector import EC2_PREFIXES, KINDS, LITERAL, Detector, plain_patterns

DETECTOR = Detector()

KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example: 40 characters, mixed case
TOKEN = "IQoJb3JpZ2luX2VjEHIaCXVzLWVhc3QtMSJHMEUCIQDexample+token/value" + "A" * 120 + "=="
OLD_TOKEN = "FwoGZXIvYXdzEBYaDOexampleTokenValue/Legacy+STS" + "B" * 100
ACCT = "123456789012"
UUID = "1234abcd-12ab-34cd-56ef-1234567890ab"
SHA = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
PEM_BODY = "MIIEowIBAAKCAQEAc1UWb5fxzpF7STG7nVLe3lARUsRJlNONwktN9ugkZeESG61s\nhe/QAqq0nv3Vth1Ls6v6+O9JL8ZsoWw/Rxl=="


def found(text: str, detector: Detector = DETECTOR) -> list[tuple[str, str]]:
    return [(span.kind, text[span.start : span.end]) for span in detector.detect(text)]


def table(*rows: tuple[str, list[tuple[str, str]]]) -> list[object]:
    return [pytest.param(text, expected, id=text[:60]) for text, expected in rows]


# --- EC2-family resource ids --------------------------------------------------------------------------------------

ISSUE_PREFIXES = (
    "i ami vol snap sg subnet vpc eni igw eigw rtb acl nat eipalloc eipassoc pcx tgw tgw-attach vpce lt dopt cgw "
    "vgw vpn fl key r host"
).split()


@pytest.mark.parametrize("prefix", ISSUE_PREFIXES)
@pytest.mark.parametrize("body", ["0123456789abcdef0", "0a1b2c3d"])
def test_ec2_family_id_with_17_or_8_hex_is_its_kind(prefix: str, body: str) -> None:
    value = f"{prefix}-{body}"
    for text in (value, f'"Id": "{value}"', f"[id={value}]", f"ids: {value},{value}"):
        assert found(text) == [(EC2_PREFIXES[prefix][0], value)] * text.count(value), text


@pytest.mark.parametrize(
    ("text", "expected"),
    table(
        ("stop i-0123456789abcdef0 now", [("INSTANCE_ID", "i-0123456789abcdef0")]),
        ('{"InstanceId": "i-0a1b2c3d"}', [("INSTANCE_ID", "i-0a1b2c3d")]),
        ("tgw-attach-0123456789abcdef0", [("TRANSIT_GATEWAY_ATTACHMENT_ID", "tgw-attach-0123456789abcdef0")]),
        ("my-vpc-0123456789abcdef0", [("VPC_ID", "vpc-0123456789abcdef0")]),
        ("unknown prefix: foo-0123456789abcdef0", [("RESOURCE_ID", "foo-0123456789abcdef0")]),
        ("xi-0123456789abcdef0", [("RESOURCE_ID", "xi-0123456789abcdef0")]),  # 17 hex is AWS-shaped enough
        (
            f"arn:aws:ec2:us-east-1:{ACCT}:instance/i-0123456789abcdef0",
            [("ACCOUNT_ID", ACCT), ("INSTANCE_ID", "i-0123456789abcdef0")],
        ),
    ),
)
def test_ec2_ids_in_context(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "i-0123456789abcdef",  # 16 hex
        "i-0a1b2c3d4",  # 9 hex
        "i-0123456789abcdef01",  # 18 hex
        "I-0123456789ABCDEF0",  # upper case: AWS ids are lower case
        "i-0123456789ABCDEF0",
        "xi-0a1b2c3d",  # glued to a word
        "foo-deadbeef",  # unknown prefix, 8 hex
        "build-12345678",
        "sg-",
    ],
)
def test_ec2_near_misses_are_kept(text: str) -> None:
    assert found(text) == []


# --- IAM key ids, secret keys, session tokens ---------------------------------------------------------------------

KEY_PREFIXES = "AKIA ASIA AIDA AROA AGPA ANPA ANVA APKA ABIA ACCA AIPA".split()


@pytest.mark.parametrize("prefix", KEY_PREFIXES)
@pytest.mark.parametrize("length", [16, 17])
def test_iam_key_and_unique_ids_are_access_key_ids(prefix: str, length: int) -> None:
    value = prefix + "IOSFODNN7EXAMPLEQRS"[:length]
    assert found(f"aws_access_key_id = {value}") == [("ACCESS_KEY_ID", value)]
    assert found(f'"UserId": "{value}:jane"') == [("ACCESS_KEY_ID", value)]


@pytest.mark.parametrize(
    "text",
    [
        "AKIAIOSFODNN7EXAMP",  # AKIA + 14
        "AKIAIOSFODNN7EXAMPL",  # AKIA + 15
        "AKIAIOSFODNN7EXAMPLEQR",  # AKIA + 18
        "akiaiosfodnn7example",  # lower case
        "XAKIAIOSFODNN7EXAMPLE",  # glued
        "ASIAPACIFICREGION",  # a word, too short
    ],
)
def test_access_key_id_near_misses_are_kept(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "text",
    [
        f"aws_secret_access_key = {KEY}",  # ~/.aws/credentials
        f"aws_secret_access_key={KEY}",
        f"AWS_SECRET_ACCESS_KEY={KEY}",  # .env
        f'export AWS_SECRET_ACCESS_KEY="{KEY}"',
        f'{{"SecretAccessKey": "{KEY}"}}',  # JSON (sts assume-role output)
        f"  secret_access_key: {KEY}",  # YAML
        f"boto3.client('s3', aws_secret_access_key='{KEY}')",  # Python kwargs
        f"{{'aws_secret_access_key': '{KEY}'}}",
        f"aws --secret-access-key {KEY} s3 ls",
        f"aws configure set aws_secret_access_key {KEY}",
        f"AWS_SECRET_KEY: '{KEY}'",
        f"found in a log line: {KEY} (no name next to it)",  # bare: mixed case and digits
    ],
)
def test_secret_access_key_is_found_in_every_context(text: str) -> None:
    assert found(text) == [("SECRET_ACCESS_KEY", KEY)]


def test_secret_key_without_digits_is_found_only_next_to_its_name() -> None:
    letters = "abcdefghijABCDEFGHIJabcdefghijABCDEFGHIJ"
    assert found(f"aws_secret_access_key = {letters}") == [("SECRET_ACCESS_KEY", letters)]
    assert found(f"value {letters}") == []


@pytest.mark.parametrize(
    "text",
    [
        SHA,  # a git SHA next to nothing
        f"commit {SHA}",
        f"RELEASE_SHA={SHA}",
        f"sha256:{SHA}{SHA[:24]}",
        KEY + "A",  # 41 characters
        "src/main/java/com/example/service/Handler",  # a path
        "DescribeReplicationConfigurationsV2Async",  # a 40-character identifier made of words
    ],
)
def test_hashes_and_paths_are_not_secret_keys(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "text",
    [
        f"aws_session_token = {TOKEN}",
        f'"SessionToken": "{OLD_TOKEN}"',
        f"AWS_SESSION_TOKEN={TOKEN}",
        f"X-Amz-Security-Token: {TOKEN}",
        f"the token {TOKEN} was printed bare",
        f"aws_session_token='{OLD_TOKEN}',",
    ],
)
def test_session_token_is_found_whole(text: str) -> None:
    token = TOKEN if TOKEN in text else OLD_TOKEN
    assert found(text) == [("SESSION_TOKEN", token)]


# --- account ids ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    table(
        (f"arn:aws:iam::{ACCT}:root", [("ACCOUNT_ID", ACCT)]),
        (f"{ACCT}.dkr.ecr.us-east-1.amazonaws.com/app:v1", [("ACCOUNT_ID", ACCT)]),
        (f'"OwnerId": "{ACCT}"', [("ACCOUNT_ID", ACCT)]),
        (f'"accountId": "{ACCT}"', [("ACCOUNT_ID", ACCT)]),
        (f'"recipientAccountId":"{ACCT}"', [("ACCOUNT_ID", ACCT)]),
        (f'"Account": "{ACCT}"', [("ACCOUNT_ID", ACCT)]),
        (f"aws_account_id = {ACCT}", [("ACCOUNT_ID", ACCT)]),
        (f"aws organizations describe-account --account-id {ACCT}", [("ACCOUNT_ID", ACCT)]),
        (f'expected_bucket_owner = "{ACCT}"', [("ACCOUNT_ID", ACCT)]),
        (f'"Principal": {{"AWS": ["{ACCT}"]}}', [("ACCOUNT_ID", ACCT)]),
        (f"https://{ACCT}.signin.aws.amazon.com/console", [("ACCOUNT_ID", ACCT)]),
        (f"s3://logs/AWSLogs/{ACCT}/CloudTrail/", [("S3_BUCKET", "logs"), ("ACCOUNT_ID", ACCT)]),
        (f"https://sns.us-east-1.amazonaws.com/{ACCT}/", [("ACCOUNT_ID", ACCT)]),
        # `_` is a word character: the span widens to the whole word (so the pseudonym stays a token).
        (f"{ACCT}_CloudTrail_us-east-1_20240101T0000Z.json.gz", [("ACCOUNT_ID", f"{ACCT}_CloudTrail_us")]),
    ),
)
def test_account_id_is_found_where_its_context_says_so(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        f"order {ACCT} shipped",  # no bare 12-digit rule
        "ts=1712345678901",  # epoch milliseconds (13 digits)
        "ts=1712345678",  # epoch seconds
        '"CreatedAt": 1712345678901',
        '"Timestamp": "202401011230"',  # a quoted YYYYMMDDhhmm
        "12345678901",  # 11 digits
        "1234567890123",  # 13 digits
        f'"Size": {ACCT}',  # unquoted number under a non-account key
        f'"OwnerId": "{ACCT}3"',
    ],
)
def test_numbers_and_timestamps_are_not_account_ids(text: str) -> None:
    assert found(text) == []


# --- ARNs ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    table(
        (f"arn:aws:iam::{ACCT}:role/Admin", [("ACCOUNT_ID", ACCT), ("IAM_ROLE", "Admin")]),
        (f"arn:aws:iam::{ACCT}:user/jane.doe", [("ACCOUNT_ID", ACCT), ("IAM_USER", "jane.doe")]),
        (f"arn:aws:iam::{ACCT}:group/admins-7", [("ACCOUNT_ID", ACCT), ("IAM_GROUP", "admins-7")]),
        (f"arn:aws:iam::{ACCT}:policy/DeployAccess", [("ACCOUNT_ID", ACCT), ("IAM_POLICY", "DeployAccess")]),
        ("arn:aws:s3:::my-bucket/reports/2024.csv", [("S3_BUCKET", "my-bucket")]),
        (
            f"arn:aws:lambda:us-east-1:{ACCT}:function:resize-images:prod",
            [("ACCOUNT_ID", ACCT), ("LAMBDA_FUNCTION", "resize-images")],
        ),
        (
            f"arn:aws:sts::{ACCT}:assumed-role/Deployer/jane-session",
            [("ACCOUNT_ID", ACCT), ("IAM_ROLE", "Deployer"), ("ROLE_SESSION", "jane-session")],
        ),
        (
            f"arn:aws:elasticloadbalancing:us-east-1:{ACCT}:loadbalancer/app/web-prod/0123456789abcdef",
            [("ACCOUNT_ID", ACCT), ("LOAD_BALANCER", "web-prod"), ("LOAD_BALANCER_ID", "0123456789abcdef")],
        ),
        (f"arn:aws:kms:eu-west-1:{ACCT}:key/{UUID}", [("ACCOUNT_ID", ACCT), ("KMS_KEY_ID", UUID)]),
        (f"arn:aws:sqs:us-east-1:{ACCT}:jobs.fifo", [("ACCOUNT_ID", ACCT), ("SQS_QUEUE", "jobs.fifo")]),
        (f"arn:aws-us-gov:iam::{ACCT}:role/Ops", [("ACCOUNT_ID", ACCT), ("IAM_ROLE", "Ops")]),
        (f"arn:aws:dynamodb:us-east-1:{ACCT}:table/*", [("ACCOUNT_ID", ACCT)]),
        (f"arn:aws:iam::{ACCT}:role/dev-*", [("ACCOUNT_ID", ACCT), ("IAM_ROLE", "dev-")]),
        (f"arn:aws:ecs:us-east-1:{ACCT}:cluster/web", [("ACCOUNT_ID", ACCT), ("ARN_RESOURCE", "web")]),
    ),
)
def test_arn_masks_account_and_resource_name_and_keeps_the_rest(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "arn:aws:iam::aws:policy/AdministratorAccess",  # AWS-managed: a public name
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:s3:::*",
        "arn:aws:iam::*:role/*",
        "arn:aws:ec2:*:*:instance/*",
        "arn:aws:sns:us-east-1:*:*",
    ],
)
def test_aws_managed_and_wildcard_arns_are_kept(text: str) -> None:
    assert found(text) == []


# --- S3 buckets ---------------------------------------------------------------------------------------------------

BUCKET = "acme-prod-data-lake-7f3k"


@pytest.mark.parametrize(
    "text",
    [
        f"aws s3 cp report.csv s3://{BUCKET}/reports/",
        f"arn:aws:s3:::{BUCKET}/*",
        f"https://{BUCKET}.s3.us-east-1.amazonaws.com/key.txt",  # virtual-hosted
        f"https://{BUCKET}.s3.amazonaws.com/key.txt",
        f"http://{BUCKET}.s3-website-us-east-1.amazonaws.com",
        f"https://s3.us-east-1.amazonaws.com/{BUCKET}/key.txt",  # path-style
        f"bucket = {BUCKET}",
        f'  bucket = "{BUCKET}"',  # HCL
        f'"bucketName": "{BUCKET}"',  # CloudTrail requestParameters
        f'"Bucket": "{BUCKET}"',
        f"      BucketName: {BUCKET}",  # CloudFormation
        f"aws s3api get-bucket-policy --bucket {BUCKET}",
        f"s3.upload_file('a.csv', Bucket='{BUCKET}', Key='a.csv')",
        f"DATA_BUCKET={BUCKET}",
        f"S3_BUCKET: {BUCKET}",
        f"bucket = s3.Bucket('{BUCKET}')",
    ],
)
def test_s3_bucket_is_found_in_every_context(text: str) -> None:
    assert found(text) == [("S3_BUCKET", BUCKET)] * text.count(BUCKET)


@pytest.mark.parametrize(
    "text",
    [
        "bucket = aws_s3_bucket.logs.id",  # a Terraform reference
        '"BucketKeyEnabled": true',
        "Bucket: MyBucket",  # CloudFormation logical id (bucket names are lower case)
        '"eventSource": "s3.amazonaws.com"',
        "com.amazonaws.us-east-1.s3",
    ],
)
def test_s3_near_misses_are_kept(text: str) -> None:
    assert found(text) == []


# --- host names, endpoints, resource names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    table(
        (
            "ssh ec2-user@ec2-54-12-34-56.compute-1.amazonaws.com",
            [("HOSTNAME", "ec2-54-12-34-56.compute-1.amazonaws.com")],
        ),
        (
            "HostName ec2-3-120-1-2.eu-central-1.compute.amazonaws.com",
            [("HOSTNAME", "ec2-3-120-1-2.eu-central-1.compute.amazonaws.com")],
        ),
        (
            "orders-prod.abcdefghij12.us-east-1.rds.amazonaws.com:5432",
            [("RDS_INSTANCE", "orders-prod"), ("ENDPOINT_HASH", "abcdefghij12")],
        ),
        (
            "ledger.cluster-ro-abcdefghij12.eu-west-1.rds.amazonaws.com",
            [("RDS_INSTANCE", "ledger"), ("ENDPOINT_HASH", "abcdefghij12")],
        ),
        (
            "prod-web-alb-1234567890.us-east-1.elb.amazonaws.com",
            [("LOAD_BALANCER", "prod-web-alb"), ("LOAD_BALANCER_ID", "1234567890")],
        ),
        (
            "internal-api-lb-123456789.eu-west-1.elb.amazonaws.com",
            [("LOAD_BALANCER", "api-lb"), ("LOAD_BALANCER_ID", "123456789")],
        ),
        (
            "net-lb-0123456789abcdef.elb.us-east-1.amazonaws.com",
            [("LOAD_BALANCER", "net-lb"), ("LOAD_BALANCER_ID", "0123456789abcdef")],
        ),
        ('"DBInstanceIdentifier": "orders-prod"', [("RDS_INSTANCE", "orders-prod")]),
        ("      DBInstanceIdentifier: orders-prod", [("RDS_INSTANCE", "orders-prod")]),
        ("aws rds reboot-db-instance --db-instance-identifier orders-prod", [("RDS_INSTANCE", "orders-prod")]),
        ('"DbiResourceId": "db-ABCDEFGHIJKLMNOPQRSTUVWX12"', [("RDS_RESOURCE_ID", "db-ABCDEFGHIJKLMNOPQRSTUVWX12")]),
        ('"LoadBalancerName": "prod-web"', [("LOAD_BALANCER", "prod-web")]),
        ("aws elb describe-load-balancers --load-balancer-names prod-web", [("LOAD_BALANCER", "prod-web")]),
        (
            f"https://sqs.us-east-1.amazonaws.com/{ACCT}/orders-jobs.fifo",
            [("ACCOUNT_ID", ACCT), ("SQS_QUEUE", "orders-jobs.fifo")],
        ),
        ("https://abcde12345.execute-api.us-east-1.amazonaws.com/prod", [("API_GATEWAY_ID", "abcde12345")]),
        ("https://d111111abcdef8.cloudfront.net/logo.png", [("CLOUDFRONT_DOMAIN", "d111111abcdef8")]),
        ('"RoleName": "prod-billing-deployer-7f3k"', [("IAM_ROLE", "prod-billing-deployer-7f3k")]),
        ("aws iam list-groups-for-user --user-name jane.doe-x1", [("IAM_USER", "jane.doe-x1")]),
        ('"GroupName": "billing-admins-7f3k"', [("IAM_GROUP", "billing-admins-7f3k")]),
        ("IamInstanceProfile: etl-ecs-task-role-if6q", [("INSTANCE_PROFILE", "etl-ecs-task-role-if6q")]),
        ('"FunctionName": "resize-images-prod"', [("LAMBDA_FUNCTION", "resize-images-prod")]),
        ("TableName: orders-sessions-qa-1dtin", [("DYNAMODB_TABLE", "orders-sessions-qa-1dtin")]),
        ("dynamodb.Table('orders-sessions-qa-1dtin')", [("DYNAMODB_TABLE", "orders-sessions-qa-1dtin")]),
        ("QueueName: billing-prod-jobs-x1", [("SQS_QUEUE", "billing-prod-jobs-x1")]),
        ("TopicName: billing-prod-alerts-x1", [("SNS_TOPIC", "billing-prod-alerts-x1")]),
        ('"SecretId": "prod/db/master"', [("SECRET_NAME", "prod/db/master")]),
        (
            "https://s3.console.aws.amazon.com/s3/buckets/acme-logs-x1?region=us-east-1",
            [("S3_BUCKET", "acme-logs-x1")],
        ),
        (
            "https://us-east-1.console.aws.amazon.com/iam/home?region=us-east-1#/roles/details/ci-deployer-x1",
            [("IAM_ROLE", "ci-deployer-x1")],
        ),
        ("https://console.aws.amazon.com/billing/home?accountId=123456789012#/", [("ACCOUNT_ID", ACCT)]),
        ("aws sts assume-role --role-session-name ci-run-42", [("ROLE_SESSION", "ci-run-42")]),
    ),
)
def test_hosts_endpoints_and_resource_names(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "db-ABC",
        "db-abcdefghijklmnopqrstuvwxyz",  # DbiResourceIds are upper case
        '"DBInstanceClass": "db.r6g.xlarge"',
        '"GroupName": "default"',  # a keyword, not a name
        '"RoleName": "${var.role}"',
        "RoleName: !Ref DeployRole",
        '"eventSource": "ec2.amazonaws.com"',
    ],
)
def test_resource_name_near_misses_are_kept(text: str) -> None:
    assert found(text) == []


# --- IPs ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    table(
        ("Last login from 54.23.1.9", [("PUBLIC_IP", "54.23.1.9")]),
        ('"CidrIp": "8.8.8.8/32"', [("PUBLIC_IP", "8.8.8.8")]),
        ('"PublicIp": "3.120.1.2", "PrivateIpAddress": "10.0.1.5"', [("PUBLIC_IP", "3.120.1.2")]),
    ),
)
def test_public_ips_are_masked_and_private_ones_kept(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "0.0.0.0/0",
        "ip-10-0-1-23.ec2.internal",
        "python 1.2.3.4.5",  # a five-part version
        "aws-cli/2.15.30",
        "256.1.1.1",
        "203.0.113.9",  # documentation range (not global)
    ],
)
def test_private_and_non_addresses_are_kept(text: str) -> None:
    assert found(text) == []


def test_mask_private_ips_masks_private_addresses_and_private_dns_names() -> None:
    detector = Detector(mask_private_ips=True)
    assert found("10.0.0.1 and 192.168.1.1", detector) == [("PUBLIC_IP", "10.0.0.1"), ("PUBLIC_IP", "192.168.1.1")]
    assert found("ip-10-0-1-23.ec2.internal", detector) == [("HOSTNAME", "ip-10-0-1-23.ec2.internal")]
    assert found("127.0.0.1", detector) == []


# --- CloudFront, Route 53, KMS ------------------------------------------------------------------------------------

DIST = "E2QWRUHEXAMPLE"  # one digit: only its context gives it away
ZONE = "Z1D633PJN98FT9"


@pytest.mark.parametrize(
    ("text", "expected"),
    table(
        (f'"DistributionId": "{DIST}"', [("CLOUDFRONT_ID", DIST)]),
        (f"aws cloudfront create-invalidation --distribution-id {DIST}", [("CLOUDFRONT_ID", DIST)]),
        (f"https://cloudfront.amazonaws.com/2020-05-31/distribution/{DIST}/invalidation", [("CLOUDFRONT_ID", DIST)]),
        ('"Id": "E1A2B3C4D5E6F7"', [("CLOUDFRONT_ID", "E1A2B3C4D5E6F7")]),
        (f'"Id": "/hostedzone/{ZONE}"', [("HOSTED_ZONE_ID", ZONE)]),
        (f"aws route53 list-resource-record-sets --hosted-zone-id {ZONE}", [("HOSTED_ZONE_ID", ZONE)]),
        ('"HostedZoneId": "ZUAYQBZVBGIVH9"', [("HOSTED_ZONE_ID", "ZUAYQBZVBGIVH9")]),
        (f"zone {ZONE} bare", [("HOSTED_ZONE_ID", ZONE)]),
        (f'"KeyId": "{UUID}"', [("KMS_KEY_ID", UUID)]),
        (f"      KmsKeyId: {UUID}", [("KMS_KEY_ID", UUID)]),
        (f"TargetKeyId: {UUID}", [("KMS_KEY_ID", UUID)]),
        (f"aws kms describe-key --key-id {UUID}", [("KMS_KEY_ID", UUID)]),
        ("mrk-1234abcd12ab34cd56ef1234567890ab", [("KMS_KEY_ID", "mrk-1234abcd12ab34cd56ef1234567890ab")]),
    ),
)
def test_cloudfront_route53_and_kms_ids(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        UUID,  # a UUID next to nothing
        f"trace_id={UUID}",
        f'"requestID": "{UUID}", "eventID": "{UUID}"',
        f'"MessageId": "{UUID}"',
        "EXAMPLEDOMAINS",  # E + 13 letters
        "2024-05-07T09:12:44Z",
        "ENCRYPT_DECRYPT",
    ],
)
def test_uuids_outside_kms_context_and_words_are_kept(text: str) -> None:
    assert found(text) == []


# --- passwords and PEM keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    table(
        ("postgres://app_user:S3cr3tPass@db.internal:5432/app", [("PASSWORD", "S3cr3tPass")]),
        ("mysql://root:hunter2x@localhost/db", [("PASSWORD", "hunter2x")]),
        ("password=hunter2x", [("PASSWORD", "hunter2x")]),
        ('DB_PASSWORD="p@ss word 1"', [("PASSWORD", "p@ss word 1")]),
        ("      MasterUserPassword: 'Tr0ub4dor&3'", [("PASSWORD", "Tr0ub4dor&3")]),
        (
            "aws rds modify-db-instance --master-user-password 'NC6r4Xnp#MjG!Op' --apply-immediately",
            [("PASSWORD", "NC6r4Xnp#MjG!Op")],
        ),
        ("jdbc:postgresql://h:5432/db?user=app&password=Xy7zzzzz", [("PASSWORD", "Xy7zzzzz")]),
    ),
)
def test_passwords_in_connection_strings_fields_and_flags(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "password=${DB_PASSWORD}",
        "password: null",
        '"PasswordResetRequired": false',
        "docker login --username AWS --password-stdin registry.example.com",
        "+ password = (sensitive value)",
        "https://example.com/path",
    ],
)
def test_password_near_misses_are_kept(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "text",
    [
        f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n",
        f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----",
        f"-----BEGIN OPENSSH PRIVATE KEY-----\r\n{PEM_BODY}\r\n-----END OPENSSH PRIVATE KEY-----",
        f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n",  # truncated: no END line
    ],
)
def test_pem_private_key_body_is_masked(text: str) -> None:
    assert found(text) == [("PEM_PRIVATE_KEY", PEM_BODY)]


def test_pem_private_key_inside_a_json_string_is_masked() -> None:
    escaped = PEM_BODY.replace("\n", "\\n")
    text = f'{{"private_key": "-----BEGIN RSA PRIVATE KEY-----\\n{escaped}\\n-----END RSA PRIVATE KEY-----\\n"}}'
    # The `n` of the `\\n` escape before the body is a word character, so the span widens over it.
    assert found(text) == [("PEM_PRIVATE_KEY", "n" + escaped)]


@pytest.mark.parametrize(
    "text",
    [
        f"-----BEGIN CERTIFICATE-----\n{PEM_BODY}\n-----END CERTIFICATE-----",
        f"-----BEGIN PUBLIC KEY-----\n{PEM_BODY}\n-----END PUBLIC KEY-----",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 user@host",
    ],
)
def test_certificates_and_public_keys_are_kept(text: str) -> None:
    assert found(text) == []


# --- Terraform ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    table(
        ("aws_iam_role.app: Refreshing state... [id=prod-app-deployer-7f3k]", [("IAM_ROLE", "prod-app-deployer-7f3k")]),
        ("aws_s3_bucket.artifacts: Refreshing state... [id=acme-artifacts-x1]", [("S3_BUCKET", "acme-artifacts-x1")]),
        ("module.net.aws_vpc.main: Refreshing state... [id=vpc-0a1b2c3d]", [("VPC_ID", "vpc-0a1b2c3d")]),
        ("aws_instance.web: Creation complete after 32s [id=i-0a1b2c3d]", [("INSTANCE_ID", "i-0a1b2c3d")]),
        ("aws_route53_record.www: Refreshing state... [id=Z1D633PJN98FT9_www_A]", [("RESOURCE_ID", ZONE + "_www_A")]),
        ("aws_default_vpc.main: Refreshing state... [id=default]", []),
        (
            '  + resource "aws_dynamodb_table" "state" {\n      + hash_key = "pk"\n'
            '      + name     = "orders-qa-1a"\n    }',
            [("DYNAMODB_TABLE", "orders-qa-1a")],
        ),
        (
            'resource "aws_db_instance" "main" {\n  identifier = "media-stg-pg-13d5"\n  engine = "postgres"\n}',
            [("RDS_INSTANCE", "media-stg-pg-13d5")],
        ),
        ('  ~ iam_instance_profile = "app-role-x1" -> "app-role-x2"', [("INSTANCE_PROFILE", "app-role-x1")]),
    ),
)
def test_terraform_ids_and_naming_attributes(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


def test_terraform_name_outside_a_naming_resource_is_kept() -> None:
    text = 'resource "aws_security_group" "web" {\n  name = "web-sg"\n  description = "web"\n}'
    assert found(text) == []


# --- what is never masked -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "us-east-1",
        "eu-west-2a",
        "ap-southeast-1",
        "us-gov-west-1",
        "t3.micro",
        "m6i.xlarge",
        "db.r6g.xlarge",
        "2024-05-07T09:12:44.123Z",
        "2024-05-07T09:12:44+00:00",
        "Tue May  7 09:12:44 2024",
        "the nightly reconcile job finished",
        "python3.12",
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79",
        '{"Version": "2012-10-17", "Effect": "Allow", "Action": "s3:GetObject"}',
        '"Code": 16, "Name": "running"',
        "HTTP/1.1 200 OK",
    ],
)
def test_ordinary_aws_text_is_kept(text: str) -> None:
    assert found(text) == []


# --- pseudonym-shaped literals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    table(
        ("restart ec2-001 now", [(LITERAL, "ec2-001")]),
        ("EC2-001", [(LITERAL, "EC2-001")]),
        ("ec2\u2011001", [(LITERAL, "ec2\u2011001")]),
        ("acct-1000.", [(LITERAL, "acct-1000")]),
        ("xec2-001 ec2-001x ec2-01 foo-001", []),
    ),
)
def test_pseudonym_shaped_text_is_escaped_as_a_literal(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


# --- user rules and enabled kinds ---------------------------------------------------------------------------------


def test_user_pattern_adds_a_kind_with_its_prefix() -> None:
    detector = DETECTOR.with_patterns([("TICKET", "ticket", r"JIRA-[0-9]+"), ("EMPLOYEE", "emp", r"emp=(?P<v>\d{6})")])
    assert found("see JIRA-1234 for emp=123456", detector) == [("TICKET", "JIRA-1234"), ("EMPLOYEE", "123456")]
    assert detector.kinds["TICKET"] == "ticket"
    assert found("restart ticket-001", detector) == [(LITERAL, "ticket-001")]


def test_user_pattern_keeps_the_built_in_rules() -> None:
    detector = DETECTOR.with_patterns([("TICKET", "ticket", r"JIRA-[0-9]+")])
    assert found("i-0a1b2c3d JIRA-1", detector) == [("INSTANCE_ID", "i-0a1b2c3d"), ("TICKET", "JIRA-1")]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([("ACCOUNT_ID", "account", r"x")], "already uses"),
        ([("TICKET", "ec2", r"x")], "share a pseudonym prefix"),
        ([("TICKET", "Ticket", r"x")], "lower-case"),
        ([("TICKET", "ticket", r"(")], "does not compile"),
    ],
)
def test_invalid_user_patterns_are_refused(rules: list[tuple[str, str, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DETECTOR.with_patterns(rules)


def test_enabled_kinds_limit_detection_but_literals_are_always_escaped() -> None:
    detector = Detector(enabled=frozenset({"INSTANCE_ID"}))
    text = f"arn:aws:ec2:us-east-1:{ACCT}:instance/i-0a1b2c3d AKIAIOSFODNN7EXAMPLE ec2-001"
    assert found(text, detector) == [("INSTANCE_ID", "i-0a1b2c3d"), (LITERAL, "ec2-001")]


def test_a_value_detected_once_is_masked_everywhere_in_the_text() -> None:
    text = "--bucket acme-prod-logs-7 then later acme-prod-logs-7 appears bare, and in xacme-prod-logs-7y"
    assert found(text) == [
        ("S3_BUCKET", "acme-prod-logs-7"),
        ("S3_BUCKET", "acme-prod-logs-7"),
        ("S3_BUCKET", "xacme-prod-logs-7y"),
    ]


def test_one_original_gets_one_kind_in_a_text() -> None:
    text = f'"arn": "arn:aws:iam::{ACCT}:role/ci-deployer-x1", "userName": "ci-deployer-x1"'
    assert [kind for kind, value in found(text) if value == "ci-deployer-x1"] == ["IAM_ROLE", "IAM_ROLE"]


# --- the tables themselves ----------------------------------------------------------------------------------------


def test_every_kind_has_its_own_valid_pseudonym_prefix() -> None:
    prefixes = list(KINDS.values())
    assert len(prefixes) == len(set(prefixes))
    assert all(re.fullmatch(r"[a-z][a-z0-9]*", p) for p in prefixes)


def test_every_kind_a_rule_can_produce_has_a_prefix() -> None:
    produced = {kind for kind, _ in EC2_PREFIXES.values()}
    produced |= {rule.kind for rule in detectors.FIELDS}
    produced |= set(detectors.ARN_RESOURCE_KINDS.values()) | {k for k, _ in detectors.TERRAFORM_KINDS.values()}
    for regex in [p.compiled for p in detectors.PATTERNS] + list(detectors.HOST_RULES):
        produced |= {name for name in regex.groupindex if not name.startswith("v")}
    produced |= {p.kind for p in detectors.PATTERNS}
    assert produced - set(KINDS) == set()


# --- properties: the fast scanners equal the plain regexes they replace -------------------------------------------

_PIECES = ["i", "vpc", "tgw", "attach", "tgw-attach", "x", "-", "_", " ", "0123456789abcdef0", "0a1b2c3d", "f", "A"]
_LITERAL_PIECES = ["ec2", "001", "\u2011", "EC2", "acct", "0"]
_pieces_text = st.lists(st.sampled_from(_PIECES + _LITERAL_PIECES), max_size=30).map("".join)


@settings(max_examples=examples(300))
@given(st.one_of(_pieces_text, st.text(alphabet="ivpctgwa-_0123456789abcdef xA", max_size=60)))
def test_ec2_scanner_finds_exactly_what_the_prefix_alternation_finds(text: str) -> None:
    fast = [(s.start, s.end, s.kind) for s in detectors._ec2_spans(text) if s.kind != "RESOURCE_ID"]
    plain = [
        (m.start("v"), m.end("v"), EC2_PREFIXES[m.group("v").rsplit("-", 1)[0]][0])
        for m in re.finditer(detectors._ec2_regex(), text)
    ]
    assert fast == plain


@settings(max_examples=examples(300))
@given(st.one_of(_pieces_text, st.text(max_size=40)))
def test_literal_scanner_finds_exactly_what_the_grammar_finds(text: str) -> None:
    fast = [(s.start, s.end) for s in DETECTOR._literal_spans(text)]
    assert sorted(fast) == [m.span() for m in DETECTOR.grammar.finditer(text)]


@settings(max_examples=examples(200))
@given(
    st.text(alphabet="ab-_c0123 ", max_size=120),
    st.lists(st.text(alphabet="ab-_c0123", min_size=1, max_size=9), min_size=1, max_size=8),
)
def test_find_originals_on_large_texts_finds_what_str_find_finds(text: str, originals: list[str]) -> None:
    table = {original: "S3_BUCKET" for original in originals}
    small = {(s.start, s.end) for s in detectors.find_originals(text, table)}
    budget, detectors._FIND_BUDGET = detectors._FIND_BUDGET, 0
    try:
        large = {(s.start, s.end) for s in detectors.find_originals(text, table)}
    finally:
        detectors._FIND_BUDGET = budget
    # The large-text path keeps the longest original per start; every shorter one lies inside it.
    assert large <= small
    assert all(any(a <= start and end <= b for a, b in large) for start, end in small)


def test_detect_covers_everything_the_plain_regexes_find_on_generated_documents() -> None:
    """The fast dispatch (one key pass, host walk, tails) misses nothing the obvious one-regex-per-rule
    masker finds. (The plain ARN and PEM rules are cruder than `detect` on purpose, so they are left out.)"""
    rng, seed = awsgen.fresh_rng()
    plain = [p for p in plain_patterns() if p.kind not in ("ARN_RESOURCE", "PEM_PRIVATE_KEY")]
    missed = []
    for doc in awsgen.generate_documents(rng, 44):
        covered = bytearray(len(doc.text))
        # `--query` arguments are JMESPath: their field names are not values (detect skips them on purpose).
        for start, end in detectors._query_ranges(doc.text):
            covered[start:end] = b"\1" * (end - start)
        for span in DETECTOR.detect(doc.text):
            covered[span.start : span.end] = b"\1" * (span.end - span.start)
        missed += [
            (doc.kind, span.kind)
            for pattern in plain
            for span in pattern.spans(doc.text)
            if not all(covered[span.start : span.end])
        ]
    assert not missed, f"{missed[:10]} (awsgen seed={seed})"


def test_large_text_detection_matches_per_document_detection() -> None:
    """The same spans whether documents are scanned one by one or as one big text (the large-text repeat path)."""
    docs = awsgen.generate_documents(random.Random(11), 22)
    whole = "\n".join(doc.text for doc in docs)
    budget, detectors._FIND_BUDGET = detectors._FIND_BUDGET, 0
    try:
        large = DETECTOR.detect(whole)
    finally:
        detectors._FIND_BUDGET = budget
    assert large == DETECTOR.detect(whole)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("why is it in account 493827160512?", ["493827160512"]),
        ("AWS account #493827160512 is prod", ["493827160512"]),
        ("Account ID: 4938-2716-0512", ["4938-2716-0512"]),
        ("account number 493827160512", ["493827160512"]),
        ("ts 202611251200 account", []),
        ("account 12345678901234", []),
        ("accounting 493827160512", ["493827160512"]),  # the bare-number policy masks it anyway
    ],
)
def test_an_account_id_written_in_prose_is_masked(text: str, expected: list[str]) -> None:
    found = [text[s.start : s.end] for s in Detector().detect(text) if s.kind == "ACCOUNT_ID"]
    assert found == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ipv6Address: 2600:1f18:4a3:6901:8d3c:2f1a:9b0e:77c1", ["2600:1f18:4a3:6901:8d3c:2f1a:9b0e:77c1"]),
        ("ssh ec2-user@2a05:d018:12:3400::1f", ["2a05:d018:12:3400::1f"]),
        ("link-local fe80::1ff:fe23:4567:890a stays", []),
        ("loopback ::1 and unique-local fd00::5 stay", []),
        ("at 12:30:45 the MAC 0a:1b:2c:3d:4e:5f changed", []),
        ("a dict {'a::b': 1} and std::vector", []),
    ],
)
def test_a_public_ipv6_address_is_masked_and_local_ones_are_kept(text: str, expected: list[str]) -> None:
    found = [text[s.start : s.end] for s in Detector().detect(text) if s.kind == "PUBLIC_IP"]
    assert found == expected


# --- issue 14: leak classes found on real AWS output ----------------------------------------------------------------

HEX32 = "0123456789ABCDEF0123456789ABCDEF"


@pytest.mark.parametrize(
    ("text", "expected"),
    table(
        # RDS snapshots (manual and automated), by flag, by key and in an ARN.
        ("--db-snapshot-identifier billing-pg-final", [("RDS_SNAPSHOT", "billing-pg-final")]),
        ("--db-cluster-snapshot-identifier=orders-aurora-snap1", [("RDS_SNAPSHOT", "orders-aurora-snap1")]),
        (
            '"DBSnapshotIdentifier": "rds:billing-pg-2025-09-03-04-10"',
            [("RDS_SNAPSHOT", "billing-pg-2025-09-03-04-10")],
        ),
        ('"DBClusterSnapshotIdentifier": "orders-snap"', [("RDS_SNAPSHOT", "orders-snap")]),
        (
            f"arn:aws:rds:us-east-1:{ACCT}:snapshot:rds:billing-pg-2025-09-03-04-10",
            [("ACCOUNT_ID", ACCT), ("RDS_SNAPSHOT", "billing-pg-2025-09-03-04-10")],
        ),
        # CloudFront distributions and origin access identities.
        ('"Distribution": {"Id": "EDFDVBD6EXAMPLE"', [("CLOUDFRONT_ID", "EDFDVBD6EXAMPLE")]),
        ('"Id": "EABCDEFGHIJKLM"', [("CLOUDFRONT_ID", "EABCDEFGHIJKLM")]),  # letters only: the key decides
        ("aws cloudfront get-distribution --id EABCDEFGHIJKLM", [("CLOUDFRONT_ID", "EABCDEFGHIJKLM")]),
        (
            "origin-access-identity/cloudfront/EABCDEFGHIJKLN",
            [("CLOUDFRONT_ID", "EABCDEFGHIJKLN")],
        ),
        # Customer-specific AWS hosts: RDS Proxy, EKS, any id-bearing label.
        (
            "app.endpoint.proxy-abc123xyz789.us-east-1.rds.amazonaws.com",
            [("RDS_INSTANCE", "app"), ("ENDPOINT_HASH", "abc123xyz789")],
        ),
        (
            f"server: https://{HEX32}.gr7.us-west-2.eks.amazonaws.com",
            [("ENDPOINT_HASH", HEX32), ("ENDPOINT_HASH", "gr7")],
        ),
        (
            "https://search-logs-a1b2c3d4e5f6g7.eu-west-1.es.amazonaws.com/_search",
            [("ENDPOINT_HASH", "search-logs-a1b2c3d4e5f6g7")],
        ),
        ("https://ec2.us-east-1.amazonaws.com/ and sts.amazonaws.com", []),
        ("s3.dualstack.eu-west-1.amazonaws.com and s3-website-us-east-1.amazonaws.com", []),
        # BYOIP pools, fleets, export/import tasks: the whole token.
        ("ipv4pool-ec2-0123456789abcdef0", [("PUBLIC_IP_POOL_ID", "ipv4pool-ec2-0123456789abcdef0")]),
        ("ipv6pool-ec2-0123456789abcdef0", [("PUBLIC_IP_POOL_ID", "ipv6pool-ec2-0123456789abcdef0")]),
        (f"fleet-{UUID} active", [("FLEET_ID", f"fleet-{UUID}")]),
        ("export-ami-0123456789abcdef0", [("EXPORT_TASK_ID", "export-ami-0123456789abcdef0")]),
        ("import-snap-0123456789abcdef0", [("IMPORT_TASK_ID", "import-snap-0123456789abcdef0")]),
        # List-valued name fields.
        (
            '"LoadBalancerNames": ["web-prod", "api-prod"]',
            [("LOAD_BALANCER", "web-prod"), ("LOAD_BALANCER", "api-prod")],
        ),
        (
            '"TableNames": [\n  "orders-7",\n  "carts-9"\n]',
            [("DYNAMODB_TABLE", "orders-7"), ("DYNAMODB_TABLE", "carts-9")],
        ),
        (
            '{"Buckets": [{"Name": "acme-logs", "CreationDate": "2024-01-02"}], "Owner": {"DisplayName": "x"}}',
            [("S3_BUCKET", "acme-logs")],
        ),
        ('"Name": "acme-logs"', []),  # `Name` alone names nothing
        # Secrets by name, any length, .env variants.
        ("AWS_SECRET_ACCESS_KEY=" + "a1B2" * 11, [("SECRET_ACCESS_KEY", "a1B2" * 11)]),
        ("AWS_SECRET_ACCESS_KEY_PROD=short1", [("SECRET_ACCESS_KEY", "short1")]),
        ("AWS_SECRET_ACCESS_KEY_2=" + KEY, [("SECRET_ACCESS_KEY", KEY)]),
        ("S3_SECRET=hx7Kq", [("SECRET_VALUE", "hx7Kq")]),
        ("SECRET=abc", [("SECRET_VALUE", "abc")]),
        ("AWS_SECRET_KEY_ID=kq81Hx", [("SECRET_ACCESS_KEY", "kq81Hx")]),
        ("https://x.example/cb?secret=Tk81x&user=a", [("SECRET_VALUE", "Tk81x")]),
        ('"SecretString": "{\\"password\\":\\"p1\\"}"', [("SECRET_VALUE", '{\\"password\\":\\"p1\\"}')]),
        (f"KEY={KEY}", [("SECRET_ACCESS_KEY", KEY)]),  # a bare 40-character key right after `=`
        ("SECRET_NAME=prod/db", [("SECRET_NAME", "prod/db")]),  # a secret's name, not its value
        ("SECRET=${SECRET}", []),
        # Passwords.
        ("DB_PASS=s3cr3t", [("PASSWORD", "s3cr3t")]),
        ("MYSQL_ROOT_PASSWORD=hunter2", [("PASSWORD", "hunter2")]),
        ("mysql -u admin -pS3cr3tPw -h db.internal", [("PASSWORD", "pS3cr3tPw")]),  # widened to the word
        ("mysql -u admin -p -h db.internal", []),
        ("psql --password Pa55word1", [("PASSWORD", "Pa55word1")]),
        ("postgres://app:p@ss/w0rd@db.example.com:5432/app", [("PASSWORD", "p@ss/w0rd")]),
        # Account ids: any --*-account-id flag, prose, text output, dashed.
        (f"--destination-account-id {ACCT}", [("ACCOUNT_ID", ACCT)]),
        ("for AWS account 410295837716 only", [("ACCOUNT_ID", "410295837716")]),
        ("the account is 620318845092", [("ACCOUNT_ID", "620318845092")]),
        (
            "RESERVATIONS\t620318845092\tr-0123456789abcdef0",
            [("ACCOUNT_ID", "620318845092"), ("RESERVATION_ID", "r-0123456789abcdef0")],
        ),
        ("ACCOUNTS\tarn\t620318845092\tops@example.com\tACTIVE", [("ACCOUNT_ID", "620318845092")]),
        ("billed to 5521-0934-7718", [("ACCOUNT_ID", "5521-0934-7718")]),
        # Buckets.
        ("2024-01-02 17:01:13 acme-billing-exports-7731", [("S3_BUCKET", "acme-billing-exports-7731")]),
        ("2024-01-02 17:01:13      12345 report.csv", []),  # an object listing: size column
        ("sam deploy --s3-bucket acme-artifacts", [("S3_BUCKET", "acme-artifacts")]),
        # Encodings inside text.
        ("X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101", [("ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")]),
        ("?id%3DAKIAIOSFODNN7EXAMPLE&x=1", [("ACCESS_KEY_ID", "3DAKIAIOSFODNN7EXAMPLE")]),
        ("path%2Fi-0123456789abcdef0%2Flogs", [("INSTANCE_ID", "2Fi-0123456789abcdef0")]),
        ("snap_i-0123456789abcdef0", [("INSTANCE_ID", "snap_i-0123456789abcdef0")]),
        ("i-0123456789abcdef0_console.log", [("INSTANCE_ID", "i-0123456789abcdef0_console")]),
        (
            '"key": "wJalrXUtnFEMI\\/K7MDENG\\/bPxRfiCYEXAMPLEKEY"',
            [("SECRET_ACCESS_KEY", "wJalrXUtnFEMI\\/K7MDENG\\/bPxRfiCYEXAMPLEKEY")],
        ),
        (
            "k=wJalrXUtnFEMI%2FK7MDENG%2FbPxRfiCYEXAMPLEKEY&x",
            [("SECRET_ACCESS_KEY", "wJalrXUtnFEMI%2FK7MDENG%2FbPxRfiCYEXAMPLEKEY")],
        ),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG\nbPxRfiCYEXAMPLEKEYa",
            [("SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG\nbPxRfiCYEXAMPLEKEYa")],
        ),
        ("token FQoDYXdzEJr" + "x" * 60 + " end", [("SESSION_TOKEN", "FQoDYXdzEJr" + "x" * 60)]),
        ("token AQoDYXdzEJr" + "y" * 60 + " end", [("SESSION_TOKEN", "AQoDYXdzEJr" + "y" * 60)]),
        (f"pasted:\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----", [("PEM_PRIVATE_KEY", PEM_BODY)]),
        # Console URLs.
        (
            "https://console.aws.amazon.com/rds/home?region=us-east-1#database:id=billing-pg;is-cluster=false",
            [("RDS_INSTANCE", "billing-pg")],
        ),
        (
            "https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#InstanceDetails:instanceId=i-0123456789abcdef0",
            [("INSTANCE_ID", "i-0123456789abcdef0")],
        ),
        (
            "https://console.aws.amazon.com/lambda/home#/functions/orders-sync-fn?tab=code",
            [("LAMBDA_FUNCTION", "orders-sync-fn")],
        ),
    ),
)
def test_issue_14_leak_classes_are_masked(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    table(
        # Regions, AZs, local zones are never originals, even in a name field.
        ('"GroupName": "us-east-1"', []),
        ('"GroupName": "eu-central-1-ham-1a"', []),
        ('"PlacementGroupName": "us-west-2-lax-1a", "ZoneName": "use1-az1"', []),
        # Ordinary words are masked in context but not spread.
        (
            "--db-cluster-identifier prod then prod and production",
            [("RDS_INSTANCE", "prod")],
        ),
        (
            "--table-name buckets; docs at https://docs.aws.amazon.com/AmazonS3/latest/userguide/buckets.html",
            [("DYNAMODB_TABLE", "buckets")],
        ),
        # JSON keys and JMESPath names.
        ("--query 'DBClusters[].{DBClusterIdentifier:DBClusterIdentifier,Status:Status}'", []),
        ('--query "Reservations[].Instances[].[InstanceId,Tags]"', []),
        ('"TableName": "TableName"', []),
        # AWS managed names.
        ('"PolicyName": "AdministratorAccess"', []),
        ("--policy-name AmazonS3ReadOnlyAccess", []),
        ('"AliasTarget": {"HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": "x"}', []),
        ("--hosted-zone-id Z2FDTNDATAQYW2", []),
        # Not public addresses.
        ("mDNS 224.0.0.251 and 239.255.255.250", []),
        ("Oracle 19.3.0.1.ru5 and v1.2.3.4", []),
        # Timestamps, phones and longer numbers under the bare-number policy.
        ("built 202612031200 ok", []),
        ("call +441234567890", []),
        ("order 123456789012 shipped", []),
        ('"ContentLength": 123456789012', []),
        ("id 1234567890123", []),
        ("pi 3.141592653589", []),
        ("v 1-123456789012", []),
    ),
)
def test_issue_14_over_masking_is_stopped(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


def test_a_short_iam_name_is_masked_in_its_context_only() -> None:
    text = "aws iam get-user --user-name Ann # Ann asked for Annual reports"
    assert found(text) == [("IAM_USER", "Ann")]


# --- structured JSON: the key is the context --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"Password": "hunter2", "Bucket": "acme-logs", "AccountId": ACCT},
            [("PASSWORD", "hunter2"), ("S3_BUCKET", "acme-logs"), ("ACCOUNT_ID", ACCT)],
        ),
        ({"input": {"db_password": "p w d", "acct": ACCT}}, [("PASSWORD", "p w d"), ("ACCOUNT_ID", ACCT)]),
        ({"BucketNames": ["acme-a1", "acme-b2"]}, []),  # a plural key with no rule of its own names nothing
        ({"bucket": ["acme-a1", "acme-b2"]}, [("S3_BUCKET", "acme-a1"), ("S3_BUCKET", "acme-b2")]),
        ({"content": json.dumps({"SecretAccessKey": "short+key/1"})}, [("SECRET_ACCESS_KEY", "short+key/1")]),
        ({"AccountId": 123456789012, "Size": 5}, [("ACCOUNT_ID", ACCT)]),
        ({"OwnerId": 12345678901}, [("ACCOUNT_ID", "12345678901")]),  # a number lost its leading zero
        ({"id": 410295837716, "count": 410295837716, "stamp": 202612031200}, [("ACCOUNT_ID", "410295837716")]),
        ({"Bucket": "default", "Password": "${DB_PASSWORD}", "RoleName": "RoleName"}, []),
        ({"Name": "acme-logs", "Description": "hunter2"}, []),
        ({"flag": True, "AccountId": None, "list": [1, 2]}, []),
    ],
)
def test_detect_json_reads_each_value_with_its_key(value: object, expected: list[tuple[str, str]]) -> None:
    assert sorted(DETECTOR.detect_json(value)) == sorted(expected)
