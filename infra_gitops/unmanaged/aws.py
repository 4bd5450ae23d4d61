"""Listing the account: every S3 bucket, SQS queue and SSM parameter of one region, with
tags and creation dates, through boto3 (the one module here that calls AWS).

The endpoint and credentials are those the stacks run with (on the sandbox its endpoint
and keys), read from the environment mapping given, never from os.environ behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from infra_gitops.errors import GitOpsError

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Account:
    """Where to list: one region with one set of credentials and endpoint."""

    region: str
    env: Mapping[str, str] = field(repr=False)
    """The environment the stacks of this account run with (credentials: never shown)."""

    @property
    def key(self) -> tuple[str, ...]:
        """Stacks with the same key are listed once."""
        return (
            self.region,
            self.env.get("AWS_ENDPOINT_URL", ""),
            self.env.get("AWS_PROFILE", ""),
            self.env.get("AWS_ACCESS_KEY_ID", ""),
        )


def account_of(env: Mapping[str, str]) -> Account:
    """The account and region a stack with this environment works in."""
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or _configured_region(env)
    return Account(region or DEFAULT_REGION, env)


def _configured_region(env: Mapping[str, str]) -> str | None:
    """The region of the AWS config file (the profile's), as boto3 reads it."""
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.session.Session(profile_name=env.get("AWS_PROFILE") or None).region_name
    except BotoCoreError:  # a profile missing from the config: the default region
        return None


@dataclass(frozen=True)
class CloudResource:
    type: str
    identifier: str
    """What the state's id is: bucket name, queue URL, parameter name."""
    name: str
    arn: str | None
    region: str
    tags: Mapping[str, str]
    created: str | None
    """ISO 8601, when the API says (SSM parameters: None)."""
    modified: str | None = None
    """ISO 8601 of the last change, where there is no creation date (SSM parameters)."""


class ListingError(GitOpsError):
    """The cloud could not be listed (credentials, endpoint, permissions)."""


def list_resources(account: Account, types: frozenset[str]) -> list[CloudResource]:
    """Every resource of these types (among LISTERS) in the account's region."""
    found: list[CloudResource] = []
    for type_, lister in LISTERS.items():
        if type_ not in types:
            continue
        try:
            found += lister(account)
        except GitOpsError:
            raise
        except Exception as exc:  # noqa: BLE001 - botocore's errors have no common base
            # with the connection ones; whatever failed, the listing is incomplete.
            raise ListingError(
                f"cannot list {type_} in region {account.region}"
                f"{_at(account)}: {type(exc).__name__}: {exc}"
            ) from exc
    return found


def _at(account: Account) -> str:
    endpoint = account.env.get("AWS_ENDPOINT_URL")
    return f" at {endpoint}" if endpoint else ""


def _client(account: Account, service: str) -> Any:
    import boto3  # heavy: only for the commands that list the cloud

    env = account.env
    keys = env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"] if keys else None,
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"] if keys else None,
        aws_session_token=(env.get("AWS_SESSION_TOKEN") or None) if keys else None,
        profile_name=None if keys else (env.get("AWS_PROFILE") or None),
        region_name=account.region,
    )
    endpoint = env.get(f"AWS_ENDPOINT_URL_{service.upper()}") or env.get("AWS_ENDPOINT_URL")
    return session.client(service, endpoint_url=endpoint or None)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(((response or {}).get("Error") or {}).get("Code", ""))


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, str):  # SQS: seconds since the epoch ("1733100000"; moto: a float)
        try:
            return datetime.fromtimestamp(float(value), UTC).isoformat(timespec="seconds")
        except (ValueError, OverflowError):
            return None
    return None


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key) or ()


# --- S3 ------------------------------------------------------------------------------

_GONE = frozenset({"NoSuchBucket", "AWS.SimpleQueueService.NonExistentQueue", "ParameterNotFound"})
"""Deleted between the listing and a detail call: not there any more, not reported."""


def _buckets(account: Account) -> list[CloudResource]:
    s3 = _client(account, "s3")
    found = []
    for bucket in _bucket_list(s3):
        name = bucket["Name"]
        try:
            if _bucket_region(s3, bucket) != account.region:
                continue  # listed with its own region's stacks
            tags = _bucket_tags(s3, name)
        except Exception as exc:
            if _error_code(exc) in _GONE:
                continue
            raise
        found.append(
            CloudResource(
                type="aws_s3_bucket",
                identifier=name,
                name=name,
                arn=f"arn:aws:s3:::{name}",
                region=account.region,
                tags=tags,
                created=_iso(bucket.get("CreationDate")),
            )
        )
    return found


def _bucket_list(s3: Any) -> Iterator[Mapping[str, Any]]:
    if s3.can_paginate("list_buckets"):
        yield from _pages(s3, "list_buckets", "Buckets")
    else:
        yield from s3.list_buckets().get("Buckets") or ()


def _bucket_region(s3: Any, bucket: Mapping[str, Any]) -> str:
    if bucket.get("BucketRegion"):
        return str(bucket["BucketRegion"])
    location = s3.get_bucket_location(Bucket=bucket["Name"]).get("LocationConstraint")
    return str(location or DEFAULT_REGION)  # us-east-1 has no location constraint


def _bucket_tags(s3: Any, name: str) -> dict[str, str]:
    try:
        tag_set = s3.get_bucket_tagging(Bucket=name)["TagSet"]
    except Exception as exc:
        if _error_code(exc) == "NoSuchTagSet":
            return {}
        raise
    return {t["Key"]: t["Value"] for t in tag_set}


# --- SQS ----------------------------------------------------------------------------


def _queues(account: Account) -> list[CloudResource]:
    sqs = _client(account, "sqs")
    found = []
    for url in _pages(sqs, "list_queues", "QueueUrls", PaginationConfig={"PageSize": 1000}):
        try:
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn", "CreatedTimestamp"]
            )["Attributes"]
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
        except Exception as exc:
            if _error_code(exc) in _GONE or "NonExistentQueue" in _error_code(exc):
                continue
            raise
        found.append(
            CloudResource(
                type="aws_sqs_queue",
                identifier=url,
                name=queue_name(url),
                arn=attributes.get("QueueArn"),
                region=account.region,
                tags=dict(tags),
                created=_iso(attributes.get("CreatedTimestamp")),
            )
        )
    return found


def queue_name(url: str) -> str:
    """The queue's name: the last part of its URL."""
    return url.rstrip("/").rsplit("/", 1)[-1]


# --- SSM ----------------------------------------------------------------------------


def _parameters(account: Account) -> list[CloudResource]:
    ssm = _client(account, "ssm")
    found = []
    for parameter in _pages(ssm, "describe_parameters", "Parameters"):
        name = parameter["Name"]
        try:
            tag_list = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)
        except Exception as exc:
            if _error_code(exc) in _GONE or _error_code(exc) == "InvalidResourceId":
                continue
            raise
        found.append(
            CloudResource(
                type="aws_ssm_parameter",
                identifier=name,
                name=name,
                arn=parameter.get("ARN"),
                region=account.region,
                tags={t["Key"]: t["Value"] for t in tag_list.get("TagList") or ()},
                created=None,  # the API has no creation date: the last change instead
                modified=_iso(parameter.get("LastModifiedDate")),
            )
        )
    return found


LISTERS: Mapping[str, Callable[[Account], list[CloudResource]]] = {
    "aws_s3_bucket": _buckets,
    "aws_sqs_queue": _queues,
    "aws_ssm_parameter": _parameters,
}
"""One lister per type of unmanaged.types.SCANNED_TYPES."""
