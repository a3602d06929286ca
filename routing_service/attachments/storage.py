"""Where attachment bytes live: Django's default storage (filesystem, or S3 via django-storages).

`save_stream` is the one way in. It takes the bytes as an iterator of chunks (a download or an
upload), writes them to an anonymous temporary file while counting — refusing as soon as the
count passes the company's limit, so an oversized file is never held whole anywhere — sniffs
the type from the first bytes, and only then hands the temporary file to the storage, which
copies it in chunks (FileSystemStorage) or as a multipart upload (S3). Memory stays flat
whatever the size: one chunk and the sniff window (tests/perf/bench_attachments.py measures it).

Names are `attachments/<company id>/<uuid>`: nothing of the sender's file name reaches a path.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from django.core.files import File
from django.core.files.storage import default_storage

from routing_service.attachments import rules

CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Stored:
    name: str
    size: int
    content_type: str


def chunks_of(file: IO[bytes], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    while chunk := file.read(size):
        yield chunk


def save_stream(
    company_id: int, chunks: Iterable[bytes], limits: rules.Limits, *, declared_type: str = ""
) -> Stored:
    """Store `chunks` as a new file of the company; raise rules.Refused (size, type)."""
    with tempfile.TemporaryFile() as spool:
        size = 0
        head = bytearray()
        for chunk in chunks:
            size += len(chunk)
            rules.check_size(size, limits)
            if len(head) < rules.SNIFF_BYTES:
                head += chunk[: rules.SNIFF_BYTES - len(head)]
            spool.write(chunk)
        if size == 0:
            raise rules.Refused("The file is empty.")
        content_type = rules.sniff(bytes(head), declared_type)
        rules.check_type(content_type, limits)
        spool.seek(0)
        name = default_storage.save(f"attachments/{company_id}/{uuid.uuid4().hex}", File(spool))
    return Stored(name=name, size=size, content_type=content_type)


def open_file(name: str) -> IO[bytes]:
    return default_storage.open(name, "rb")


def delete(name: str) -> None:
    if name:
        default_storage.delete(name)
