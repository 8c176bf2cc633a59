"""boto3 clients for the Kinesis sink, checked at start so a wrong stream, region or credentials is one line."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from ..errors import ConfigError, RuntimeFailure
from ..settings import KinesisSettings

# Retries are the sink's own (per entry, in order); botocore's would resend whole calls behind its back.
CLIENT_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=60)


def open_clients(settings: KinesisSettings) -> tuple[Any, Any]:
    """(kinesis client, s3 client or None), after checking that the stream exists and is reachable."""
    try:
        session = boto3.session.Session(region_name=settings.region)
        kinesis = session.client("kinesis", endpoint_url=settings.endpoint_url, config=CLIENT_CONFIG)
        kinesis.describe_stream_summary(StreamName=settings.stream_name)
        s3 = None
        if settings.claim_check_uri:
            s3 = session.client("s3", endpoint_url=settings.endpoint_url, config=CLIENT_CONFIG)
    except NoRegionError:
        raise ConfigError("--region (CDC_REGION): no AWS region; set --region or AWS_REGION") from None
    except NoCredentialsError:
        raise ConfigError(
            "no AWS credentials found: set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with a role"
        ) from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        region = kinesis_region(settings)
        if code == "ResourceNotFoundException":
            raise ConfigError(
                f"--stream-name (CDC_STREAM_NAME): stream {settings.stream_name!r} does not exist in {region}"
            ) from None
        if code in ("AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException"):
            raise ConfigError(
                f"Kinesis refused the credentials in {region} ({code}): check the IAM permissions"
            ) from None
        raise RuntimeFailure(f"cannot reach Kinesis stream {settings.stream_name!r} in {region}: {error}") from None
    except BotoCoreError as error:
        raise RuntimeFailure(f"cannot reach Kinesis in {kinesis_region(settings)}: {error}") from None
    return kinesis, s3


def kinesis_region(settings: KinesisSettings) -> str:
    region = settings.region or boto3.session.Session().region_name or "?"
    return f"region {region}" + (f" at {settings.endpoint_url}" if settings.endpoint_url else "")
