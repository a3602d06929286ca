"""Attachment rules as pure functions: what a file is (from its bytes) and whether it may stay.

The content type is sniffed from the first bytes (`filetype`'s magic numbers), never taken from
the name or the sender's header: a file that calls itself `invoice.pdf` but is an executable is
refused as an executable. Only text has no magic number; bytes that decode as UTF-8 without NUL
are text (`text/plain`, or `text/csv` when the sender said CSV). The categories are what a
company may allow; anything outside them (archives, executables, SVG with its scripts) is
refused whatever the company says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import filetype

MiB = 1024 * 1024
# How much of the start of a file the sniff reads (Office formats are zips whose first entries
# name the kind: a few KiB in practice).
SNIFF_BYTES = 64 * 1024

CATEGORIES: dict[str, frozenset[str]] = {
    "image": frozenset(
        {"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/avif"}
    ),
    "pdf": frozenset({"application/pdf"}),
    "audio": frozenset(
        {
            "audio/mpeg",
            "audio/mp4",
            "audio/ogg",
            "audio/aac",
            "audio/amr",
            "audio/x-wav",
            "audio/x-flac",
        }
    ),
    "video": frozenset({"video/mp4", "video/3gpp", "video/quicktime", "video/webm"}),
    "office": frozenset(
        {
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.oasis.opendocument.text",
            "application/vnd.oasis.opendocument.spreadsheet",
            "application/vnd.oasis.opendocument.presentation",
            "application/rtf",
            "text/plain",
            "text/csv",
        }
    ),
}
ALL_CATEGORIES: tuple[str, ...] = tuple(CATEGORIES)


@dataclass(frozen=True)
class Limits:
    """A company's attachment limits, as plain values."""

    max_bytes: int
    categories: frozenset[str]
    quota_bytes: int  # 0: no quota


class Refused(Exception):
    """A file the rules do not accept; `reason` is short, fixed and safe to show agents."""

    def __init__(self, reason: str, *, field: str = "file") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def sniff(head: bytes, declared: str = "") -> str:
    """The content type of a file whose first bytes are `head` ("" when unknown).

    `declared` only decides between text flavours, which have no magic number.
    """
    kind = filetype.guess(head[:SNIFF_BYTES]) if head else None
    if kind is not None:
        return str(kind.mime)
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sniffed window is still text.
            if exc.start < len(head) - 3:
                return ""
        return "text/csv" if _media(declared) == "text/csv" else "text/plain"
    return ""


def _media(value: str) -> str:
    return value.partition(";")[0].strip().lower()


def category_of(content_type: str) -> str | None:
    return next((name for name, types in CATEGORIES.items() if content_type in types), None)


def check_type(content_type: str, limits: Limits) -> str:
    """The category of an allowed type; Refused otherwise."""
    category = category_of(content_type)
    if category is None:
        shown = content_type or "an unknown type"
        raise Refused(f"Files of type {shown} are not accepted.")
    if category not in limits.categories:
        raise Refused(f"This company does not accept {category} files.")
    return category


def check_size(size: int, limits: Limits) -> None:
    if size > limits.max_bytes:
        raise Refused(f"The file is larger than {human_size(limits.max_bytes)}.")


def check_quota(size: int, used: int, limits: Limits) -> None:
    if limits.quota_bytes and used + size > limits.quota_bytes:
        raise Refused(
            f"The company's storage quota of {human_size(limits.quota_bytes)} would be exceeded."
        )


def normalise_categories(values: Iterable[str]) -> frozenset[str]:
    """The known categories among `values`; none named means all."""
    chosen = frozenset(v for v in values if v in CATEGORIES)
    return chosen or frozenset(ALL_CATEGORIES)


def human_size(size: int) -> str:
    if size >= MiB and size % MiB == 0:
        return f"{size // MiB} MiB"
    if size >= MiB:
        return f"{size / MiB:.1f} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


def safe_name(name: str, fallback: str = "file") -> str:
    """A file name fit for a header and a page: no path, no control characters, ≤ 200 chars."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base.isprintable() and not ('"' in base or "<" in base or ">" in base):
        cleaned = base.strip(" .")  # the common name, whole: no character to drop
    else:
        cleaned = "".join(c for c in base if c.isprintable() and c not in '"<>').strip(" .")
    return cleaned[:200] or fallback


def display_kind(content_type: str) -> str:
    """How a console shows it: `image` inline, `audio`/`video` in a player, else `file`."""
    major = content_type.partition("/")[0]
    return major if major in {"image", "audio", "video"} else "file"
