"""Analytics writes that people trigger: upload a CSV data source, delete one.

The API and the analytics pages both call these; the import itself runs in a worker
(``analytics.tasks.import_data_source`` → ``analytics.importer.run_import``), enqueued only once
the data source row is committed so the worker always finds it.
"""

from __future__ import annotations

import logging
from pathlib import PurePath

from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from analytics.models import DataSource
from analytics.uploads import check_file_size
from routing_service.tenancy.models import Company, User

__all__ = ["DataSourceInUse", "create_data_source", "delete_data_source", "enqueue_import"]

logger = logging.getLogger(__name__)

NAME_MAX_LENGTH = DataSource._meta.get_field("name").max_length or 200


class DataSourceInUse(Exception):
    """The live feed is written by the system; deleting it is refused."""


def create_data_source(
    *, company: Company, upload: UploadedFile, name: str = "", created_by: User | None = None
) -> DataSource:
    """Store the upload as a pending CSV data source and enqueue its import after commit.

    ``name`` defaults to the file's name. Raises ``UploadTooLarge`` past
    ``settings.CSV_IMPORT_MAX_BYTES``. The file is stored before the row is written; if the
    row cannot be written the stored file is removed again.
    """
    check_file_size(upload)
    name = (name or "").strip() or PurePath(upload.name or "upload.csv").name
    source = DataSource(
        company=company,
        name=name[:NAME_MAX_LENGTH],
        kind=DataSource.Kind.CSV,
        status=DataSource.Status.PENDING,
        bytes_total=upload.size or 0,
        created_by=created_by,
    )
    source.file.save(PurePath(upload.name or "upload.csv").name, upload, save=False)
    try:
        with transaction.atomic():
            source.save()
            transaction.on_commit(lambda: enqueue_import(source.pk), robust=True)
    except BaseException:
        source.file.delete(save=False)
        raise
    return source


def enqueue_import(data_source_id: int) -> None:
    """Send the import to the workers. Idempotent: a source that is not pending is left alone,
    so it is safe to call again for one whose message was lost (broker down at upload)."""
    from analytics.tasks import import_data_source

    import_data_source.send(data_source_id)


def delete_data_source(source: DataSource) -> None:
    """Delete a CSV data source, its sessions and its stored file.

    A running import notices on its next batch and stops (it locks the row per batch, so the
    delete waits for a batch in flight). The file goes only after the delete commits.
    """
    if source.kind == DataSource.Kind.LIVE:
        raise DataSourceInUse("The live conversations feed cannot be deleted.")
    file = source.file
    with transaction.atomic():
        DataSource.objects.unscoped().select_for_update().filter(pk=source.pk).first()
        source.delete()
        if file:
            name, storage = file.name, file.storage
            transaction.on_commit(lambda: _delete_file(storage, name), robust=True)


def _delete_file(storage: Storage, name: str | None) -> None:
    if name:
        storage.delete(name)
