"""The SQLite file the fortunes view reads: created and seeded on first import, shared by
every server process after that.

The path is ``$REALAPP_DB`` if set, else a fixed name in the temp directory that carries a
digest of the rows, so a change to them makes a new file instead of reading a stale one.
Servers started side by side may both find it missing: each writes its own temp file in the
same directory and renames it into place (atomic, and the contents are the same), so no
process ever opens a half-written database.
"""

import contextlib
import hashlib
import os
import sqlite3
import tempfile
from pathlib import Path

# id, message: non-ASCII text and characters the template must escape, as in TechEmpower's
# fortunes test (these messages are this benchmark's own).
FORTUNES = [
    (1, "A bug in the hand is worth two in the backlog."),
    (2, '<script>alert("the template escapes this");</script>'),
    (3, "Tests & docs: the two things written after the deadline."),
    (4, "フレームワークのベンチマークです。"),
    (5, "Ce n'est pas un bogue, c'est une fonctionnalité."),
    (6, "Ünïcödé survives the round trip, or someone hears about it."),
    (7, "'Single' and \"double\" quotes are escaped too."),
    (8, "Two hard problems: cache invalidation, naming things and off-by-one errors."),
    (9, "Δοκιμή is the Greek for a test."),
    (10, "Measure first; the slow part is never where you guessed."),
    (11, "Ship it < fix it > forget it."),
    (12, "Ein Server, zwei Schnittstellen: WSGI & ASGI."),
]
SCHEMA = "CREATE TABLE fortune (id INTEGER PRIMARY KEY, message VARCHAR(2048) NOT NULL)"


def path() -> Path:
    """Where the database is (``$REALAPP_DB``, or the temp directory)."""
    override = os.environ.get("REALAPP_DB")
    if override:
        return Path(override)
    digest = hashlib.sha256(repr((SCHEMA, FORTUNES)).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"amphicorn-bench-fortunes-{digest}.sqlite3"


def ensure(target: Path) -> Path:
    """``target``, created and seeded first if it does not exist."""
    if target.exists():
        return target
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        with contextlib.closing(sqlite3.connect(tmp)) as conn:
            conn.execute(SCHEMA)
            conn.executemany("INSERT INTO fortune (id, message) VALUES (?, ?)", FORTUNES)
            conn.commit()
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
