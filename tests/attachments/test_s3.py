"""Attachments on an S3-compatible store (django-storages), against a local S3 server.

The server is moto's (`moto[server]`: a real S3 HTTP API on 127.0.0.1) started by the test as
a child process; the storage settings are the ones `ATTACHMENT_STORAGE=s3` produces
(routing_service/settings.py), pointed at it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client, override_settings

from routing_service.attachments import actions, signing
from routing_service.attachments.tasks import fetch_one
from routing_service.tenancy.models import Company, Role, User
from tests.attachments import media
from tests.attachments.conftest import MediaChat
from tests.support.processes import free_port, stop, wait_for_port

BUCKET = "switchboard-attachments"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_for_port(port, process, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture
def s3_storage(s3_server: str) -> Iterator[None]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    storages = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "access_key": "test",
                "secret_key": "test",
                "location": "switchboard",
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
                "addressing_style": "path",
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        yield


def test_an_upload_is_stored_in_the_bucket_and_served_through_a_signed_url(
    s3_storage: None, s3_server: str, company_a: Company, make_user: Callable[..., User]
) -> None:
    import boto3

    agent = make_user(company_a, Role.AGENT)
    attachment = actions.store_upload(
        company_a.pk, agent.pk, "receipt.pdf", "application/pdf", io.BytesIO(media.pdf())
    )
    assert type(default_storage._wrapped).__name__ == "S3Storage"  # type: ignore[attr-defined]
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    key = f"switchboard/{attachment.storage_name}"
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == media.pdf()

    browser = Client()
    browser.force_login(agent)
    response = browser.get(signing.agent_url(company_a.pk, attachment.pk))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == media.pdf()  # type: ignore[attr-defined]


def test_an_inbound_download_streams_into_the_bucket(
    s3_storage: None, media_chat: Callable[..., MediaChat], transactional_db: Any
) -> None:
    chat = media_chat("telegram")
    assert fetch_one(chat.attachments[0].pk) == "ready"
    attachment = chat.attachments[0]
    with default_storage.open(attachment.storage_name) as handle:
        assert handle.read() == media.png()
