"""Which originals may be masked wherever they appear, with no context around them. Pure; no I/O here.

A value found once by its context (`--db-instance-identifier billing-pg`, `s3://acme-logs-7731`) is masked
everywhere else too: later in the same text (the detector's in-text repetition) and in later requests of the
same namespace (the recall index). Doing that for `default`, `admin`, `us-west-2` or `AdministratorAccess`
would wreck the text the model reads, so `recall_safe(kind, original)` is the one rule that decides it:

1. `PSEUDONYM_LITERAL` is never recall-safe: pseudonym-shaped text is handled on its own path.
2. Secrets (`SECRET_KINDS`: secret keys, session tokens, passwords, signatures, private keys, access key ids,
   secrets found by their name, encoded runs that hold a secret) of 8 or more characters are always
   recall-safe: a secret must never reach the model, and 8 characters of secret almost never occur by
   chance. Shorter ones are masked only where their context names them.
3. Names and ids are recall-safe when their shape makes an accidental match unlikely:
   - at least `MIN_LENGTH` (6) characters, and no whitespace;
   - at least one digit or one separator (`-` `_` `.` `/` `:` `@` `+` `=`): `billing-pg`, `web01`,
     `acme.logs`; a plain word or a CamelCase word without either (`DeployRole`, `payroll`) is not;
   - only digits: at least 10 of them (`410295837716` yes, `202612` no);
   - not an ordinary word (`COMMON_WORDS`: `default`, `admin`, `latest`, `prod-db`... compared without case);
   - never a region, availability zone (name or id), local or wavelength zone, partition or service name
     (`us-west-2`, `eu-central-1-ham-1a`, `use1-az1`, `aws-us-gov`, `execute-api`);
   - never an AWS managed policy name (`AmazonS3ReadOnlyAccess`, `service-role/AWSLambdaBasicExecutionRole`).

A value that is not recall-safe is still masked where its own context gives it away; it is just not spread.
Short IAM names (`--user-name Ann`) are such values: masked after their flag or key, left alone in prose,
because searching the text for `Ann` would also hit `Annual`, `ANN` and every other word that contains it.
"""

from __future__ import annotations

import re

__all__ = ["COMMON_WORDS", "MIN_LENGTH", "SECRET_KINDS", "is_aws_public_name", "recall_safe"]

#: Kinds whose originals are secrets: recall-safe from 8 characters on, whatever their shape.
SECRET_KINDS: frozenset[str] = frozenset(
    {
        "SECRET_ACCESS_KEY",
        "SESSION_TOKEN",
        "PASSWORD",
        "SIGNATURE",
        "PEM_PRIVATE_KEY",
        "ACCESS_KEY_ID",
        "SECRET_VALUE",
        "API_KEY",
        "ENCODED_VALUE",
    }
)
#: Names and ids shorter than this are never recall-safe.
MIN_LENGTH = 6
_MIN_SECRET = 8
_MIN_DIGITS_ONLY = 10
_LITERAL = "PSEUDONYM_LITERAL"
_DIGIT_OR_SEPARATOR = re.compile(r"[0-9_./:@+=-]")
_SPACE = re.compile(r"\s")

#: Ordinary words people give resources; compared in lower case. Spreading them would mask prose.
COMMON_WORDS: frozenset[str] = frozenset(
    """
    default defaults admin admins administrator administrators root latest current stable prod production
    preprod pre-prod test tests testing dev devel develop development staging stage qa uat sandbox demo
    example examples sample samples system systems main master primary secondary replica readonly read-only
    readwrite read-write public private internal external web webapp website app apps application api apis
    backend frontend server servers service services worker workers database databases db-main buckets bucket
    objects logs logging backup backups archive archives temp tmp cache queue queues topic topics table tables
    users user guest guests deploy deployer deployment deployments pipeline pipelines build builds release
    releases config configs settings secrets secret password passwords token tokens credentials local
    localhost global shared common core base home index images assets static media uploads downloads files
    reports events alerts metrics monitoring security audit auditor billing analytics default-vpc
    hello-world helloworld lambda-role ec2-user ubuntu centos debian amazon
    amazon-linux amzn2 al2023 bottlerocket windows linux docker kubernetes nginx apache postgres postgresql
    mysql mariadb aurora redis memcached mongodb elasticsearch opensearch kafka rabbitmq jenkins github gitlab
    terraform cloudformation ansible python python3 nodejs node18 node20 java11 java17 java21 dotnet6 dotnet8
    python3.9 python3.10 python3.11 python3.12 python3.13 nodejs18.x nodejs20.x nodejs22.x provided.al2
    provided.al2023 x86_64 arm64 amd64 aarch64 utf-8 us-ascii gp2 gp3 io1 io2 st1 sc1 standard ipv4 ipv6
    http https tcp udp icmp ssh-rsa ssh-ed25519 sha256 sha-256 sha1 aes256 aes-256 rsa-2048 rsa-4096
    """.split()
)

#: Partitions: `arn:aws-us-gov:…`.
_PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"})
#: Regions (`us-west-2`, `us-gov-east-1`, `us-isob-east-1`), their AZs (`us-west-2a`), local zones
#: (`us-west-2-lax-1a`, `eu-central-1-ham-1a`) and wavelength zones (`us-east-1-wl1-bos-wlz-1`).
_REGION = re.compile(
    r"(?:us|eu|ap|sa|ca|me|af|il|mx|cn|eusc)(?:-(?:gov|iso|isob|isoe|isof|[a-z]{2}))?"
    r"-(?:north|south|east|west|central)(?:east|west)?-[0-9]{1,2}"
    r"(?:[a-z]|-[a-z]{3}-[0-9][a-z]?|-wl[0-9]-[a-z]{3}-wlz-[0-9]+)?"
)
#: AZ ids: `use1-az1`, `usw2-lax1-az1`.
_AZ_ID = re.compile(r"[a-z]{3,5}[0-9](?:-[a-z]{3}[0-9])?-az[0-9]{1,2}")
#: Service names and endpoint prefixes that pass the shape rule (plain words already fail it).
_SERVICES = frozenset(
    """
    ec2 s3 route53 route53domains route53resolver route53-recovery-control-config execute-api ec2messages
    ssmmessages s3-control s3-outposts s3-object-lambda s3express cognito-idp cognito-identity cognito-sync
    kinesis-video kinesisvideo api.ecr ecr-public dkr.ecr elasticloadbalancing-v2 elbv2 iot-data
    iot-jobs-data runtime.sagemaker api.sagemaker bedrock-runtime bedrock-agent bedrock-agent-runtime
    resource-groups resourcegroupstaggingapi service-quotas sso-oidc identity-center codestar-connections
    codestar-notifications application-autoscaling application-insights compute-optimizer cost-optimization-hub
    logs.amazonaws.com ec2.amazonaws.com lambda.amazonaws.com s3.amazonaws.com
    ecs-tasks.amazonaws.com events.amazonaws.com states.amazonaws.com sns.amazonaws.com sqs.amazonaws.com
    rds.amazonaws.com monitoring.amazonaws.com cloudtrail.amazonaws.com config.amazonaws.com
    elasticloadbalancing.amazonaws.com autoscaling.amazonaws.com apigateway.amazonaws.com
    """.split()
)
#: AWS managed policy names (the ones whose shape alone does not give them away as AWS's own).
_MANAGED_POLICIES = frozenset(
    """
    AdministratorAccess PowerUserAccess ReadOnlyAccess ViewOnlyAccess SecurityAudit IAMFullAccess
    IAMReadOnlyAccess IAMUserChangePassword Billing DatabaseAdministrator DataScientist NetworkAdministrator
    SystemAdministrator SupportUser AdministratorAccess-Amplify AdministratorAccess-AWSElasticBeanstalk
    CloudWatchAgentServerPolicy CloudWatchAgentAdminPolicy CloudWatchFullAccess CloudWatchReadOnlyAccess
    CloudWatchLogsFullAccess CloudWatchLogsReadOnlyAccess CloudFrontFullAccess CloudFrontReadOnlyAccess
    SecretsManagerReadWrite ElasticLoadBalancingFullAccess ElasticLoadBalancingReadOnly
    """.split()
)
#: `AmazonS3ReadOnlyAccess`, `AWSLambdaBasicExecutionRole`, `service-role/AWSGlueServiceRole`,
#: `job-function/ViewOnlyAccess`: AWS names its managed policies this way.
_MANAGED_SHAPE = re.compile(
    r"(?:(?:service-role|job-function|aws-service-role)/)?(?:Amazon|AWS|Aws)[A-Z0-9][A-Za-z0-9_-]*"
)
_MANAGED_PATH = re.compile(r"(?:service-role|job-function|aws-service-role)/(?P<name>[A-Za-z0-9_-]+)")
#: The three shapes in one pattern: one `fullmatch` per name (loading a million originals calls this rule a
#: million times).
_PUBLIC_SHAPE = re.compile(f"{_REGION.pattern}|{_AZ_ID.pattern}|{_MANAGED_SHAPE.pattern}")
_PUBLIC_WORDS = _PARTITIONS | _SERVICES | _MANAGED_POLICIES


def is_aws_public_name(original: str) -> bool:
    """A name AWS gives the same way to every customer: a region, an AZ (name or id), a local or wavelength
    zone, a partition, a service or endpoint prefix, an AWS managed policy name. Never an original."""
    if original in _PUBLIC_WORDS or _PUBLIC_SHAPE.fullmatch(original):
        return True
    path = _MANAGED_PATH.fullmatch(original) if "/" in original else None
    return path is not None and path.group("name") in _MANAGED_POLICIES


def recall_safe(kind: str, original: str) -> bool:
    """May `original` (of `kind`) be masked wherever it occurs, with no context around it?

    True for secrets of 8+ characters and for names and ids whose shape is distinctive (see the module
    docstring); False for pseudonym-shaped literals, ordinary words, AWS's own public names and short values.
    """
    if kind in SECRET_KINDS:
        return len(original) >= _MIN_SECRET
    if kind == _LITERAL or len(original) < MIN_LENGTH or _SPACE.search(original):
        return False
    if original.isdigit():
        return len(original) >= _MIN_DIGITS_ONLY
    if original.isalpha() or not _DIGIT_OR_SEPARATOR.search(original):
        return False
    if original.lower() in COMMON_WORDS:
        return False
    return not is_aws_public_name(original)
