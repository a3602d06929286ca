"""The shipped message catalogues: complete, in step with the code, compiled, and faithful to
their placeholders.

* Every entry of locale/{de,es}/LC_MESSAGES/{django,djangojs}.po is translated (every plural
  form) and none is fuzzy.
* `manage.py makemessages` run on a copy of the code finds no string the catalogues lack, and
  the catalogues hold none the code no longer has (scripts/messages keeps them in step).
* Each msgstr keeps its msgid's placeholders (%(name)s, %s, {name}) and HTML tags.
* The committed .mo files say what the .po files say.

The re-extraction needs GNU gettext (xgettext), which scripts/test installs; without it this
test fails, saying so, rather than skipping.
"""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("de", "es")
DOMAINS = ("django", "djangojs")
CATALOGUES = [(lang, domain) for lang in LANGUAGES for domain in DOMAINS]

# As scripts/lib.sh MAKEMESSAGES_IGNORE: what is not Switchboard's own code.
_NOT_COPIED = shutil.ignore_patterns(
    "node_modules",
    ".venv",
    "staticfiles",
    "var",
    "tests",
    "vendor",
    "deploy",
    "docs",
    "scripts",
    "locale",
    "test-artifacts",
    "__pycache__",
    ".*",
)
_SOURCES = ("routing_service", "realtime", "analytics", "sla_engine", "events", "frontend_static")

# Counts that between them select every plural form of German and Spanish (CLDR's Spanish
# has a form for a million and its multiples).
_COUNTS = (1, 2, 0, 5, 21, 1_000_000)
_PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]|\{\w+\}")
_TAG = re.compile(r"</?[a-z][^>]*>")


def po_path(root: Path, lang: str, domain: str) -> Path:
    return root / "locale" / lang / "LC_MESSAGES" / f"{domain}.po"


def load(path: Path, lang: str) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=lang)


def entries(catalog: Catalog) -> Iterator[Message]:
    return (message for message in catalog if message.id)


def forms(message: Message) -> tuple[str, ...]:
    strings = message.string
    return tuple(strings) if isinstance(strings, (list, tuple)) else (strings,)


def key(message: Message) -> tuple[str | None, str]:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return (message.context, msgid)


def describe(message: Message) -> str:
    context = f"[{message.context}] " if message.context else ""
    return f"{context}{message.id!r}"


@pytest.mark.parametrize(("lang", "domain"), CATALOGUES)
def test_every_string_is_translated_and_none_is_fuzzy(lang: str, domain: str) -> None:
    catalog = load(po_path(ROOT, lang, domain), lang)
    assert not catalog.fuzzy, f"{lang}/{domain}.po: the header is marked fuzzy"
    messages = list(entries(catalog))
    assert len(messages) > (100 if domain == "django" else 50), "the catalogue looks empty"
    fuzzy = [describe(m) for m in messages if m.fuzzy]
    untranslated = [describe(m) for m in messages if not all(s.strip() for s in forms(m))]
    assert fuzzy == [], f"{lang}/{domain}.po has fuzzy entries:\n" + "\n".join(fuzzy)
    assert untranslated == [], f"{lang}/{domain}.po has untranslated entries:\n" + "\n".join(
        untranslated
    )
    if catalog.num_plurals:
        wrong = [
            describe(m) for m in messages if m.pluralizable and len(forms(m)) != catalog.num_plurals
        ]
        assert wrong == [], f"{lang}/{domain}.po: plural entries without every form: {wrong}"


def placeholder_problems(message: Message) -> list[str]:
    """How each msgstr differs from its msgid in placeholders and HTML tags (singular forms
    against the msgid, the other forms against msgid_plural)."""
    problems = []
    ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
    for index, string in enumerate(forms(message)):
        source = ids[0] if index == 0 else ids[-1]
        for pattern, what in ((_PLACEHOLDER, "placeholders"), (_TAG, "HTML tags")):
            wanted = sorted(pattern.findall(source))
            found = sorted(pattern.findall(string))
            if wanted != found:
                problems.append(f"{describe(message)} form {index}: {what} {found} != {wanted}")
    return problems


@pytest.mark.parametrize(("lang", "domain"), CATALOGUES)
def test_translations_keep_the_placeholders_and_tags(lang: str, domain: str) -> None:
    catalog = load(po_path(ROOT, lang, domain), lang)
    problems = [p for m in entries(catalog) for p in placeholder_problems(m)]
    assert problems == [], f"{lang}/{domain}.po:\n" + "\n".join(problems)


def test_the_placeholder_check_catches_a_lost_or_renamed_placeholder() -> None:
    """The check above would fail on the mistakes it exists for."""
    good = Message("Offer expired: %(name)s", "Angebot abgelaufen: %(name)s")
    renamed = Message("Offer expired: %(name)s", "Angebot abgelaufen: %(nom)s")
    lost = Message('<a href="%(url)s">overview</a>', "Überblick")
    plural = Message(("%(count)s chat", "%(count)s chats"), ("%(count)s Chat", "%(n)s Chats"))
    assert placeholder_problems(good) == []
    assert placeholder_problems(renamed)
    assert len(placeholder_problems(lost)) == 2  # the placeholder and the tags
    assert placeholder_problems(plural) == [
        "('%(count)s chat', '%(count)s chats') form 1: placeholders ['%(n)s'] != ['%(count)s']"
    ]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the code with the shipped catalogues, after `makemessages` on it: what the
    catalogues would have to be."""
    if shutil.which("xgettext") is None:
        pytest.fail("GNU gettext is missing: scripts/test installs it (apt-get install gettext)")
    copy = tmp_path_factory.mktemp("makemessages")
    for name in _SOURCES:
        shutil.copytree(ROOT / name, copy / name, ignore=_NOT_COPIED)
    shutil.copy2(ROOT / "manage.py", copy / "manage.py")
    shutil.copytree(ROOT / "locale", copy / "locale")
    env = {
        **os.environ,
        "PYTHONPATH": str(copy),
        "DJANGO_SETTINGS_MODULE": "routing_service.settings",
        "DEBUG": "true",
        "SWITCHBOARD_VAR_DIR": str(copy / "var"),
    }
    env.pop("DATABASE_URL", None)
    for domain in DOMAINS:
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "makemessages",
                "-d",
                domain,
                "-l",
                "de",
                "-l",
                "es",
                "--no-obsolete",
                "--no-location",
                "--ignore=var",
            ],
            cwd=copy,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return copy


@pytest.mark.parametrize(("lang", "domain"), CATALOGUES)
def test_the_catalogues_hold_every_string_of_the_code(
    extracted: Path, lang: str, domain: str
) -> None:
    shipped = {key(m) for m in entries(load(po_path(ROOT, lang, domain), lang))}
    in_code = {key(m) for m in entries(load(po_path(extracted, lang, domain), lang))}
    missing = sorted(in_code - shipped, key=str)
    stale = sorted(shipped - in_code, key=str)
    assert missing == [], (
        f"strings of the code missing from {lang}/{domain}.po (run scripts/messages and "
        "translate them):\n" + "\n".join(map(str, missing))
    )
    assert stale == [], (
        f"{lang}/{domain}.po holds strings the code no longer has (run scripts/messages):\n"
        + "\n".join(map(str, stale))
    )


@pytest.mark.parametrize(("lang", "domain"), CATALOGUES)
def test_the_compiled_catalogues_match_the_sources(lang: str, domain: str) -> None:
    catalog = load(po_path(ROOT, lang, domain), lang)
    with po_path(ROOT, lang, domain).with_suffix(".mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for message in entries(catalog):
        context = f"{message.context}\x04" if message.context else ""
        if isinstance(message.id, str):
            if compiled.gettext(context + message.id) != message.string:
                stale.append(describe(message))
        else:
            for index, string in enumerate(forms(message)):
                # A count that selects this form under the catalogue's plural rule.
                count = next(n for n in _COUNTS if compiled.plural(n) == index)
                got = compiled.ngettext(context + message.id[0], message.id[1], count)
                if got != string:
                    stale.append(f"{describe(message)} form {index}")
    assert stale == [], (
        f"{lang}/{domain}.mo is older than its .po (run `scripts/messages compile`):\n"
        + "\n".join(stale)
    )
