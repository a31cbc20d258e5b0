"""The write-ahead spool of ``lineage serve``: an event is acknowledged once it is appended here;
an indexer process stores the spool in the lineage store in large batches (docs/architecture.md#lineage).

Why not commit before answering: with 8 producers posting one event per request, the store's
transaction per small group and the HTTP handling shared one core and one GIL, and the service
topped out near 850 events/s (measured). Appending a line costs microseconds; the indexer, in its
own process, commits whatever has accumulated since its last pass, so its batches grow with the
load. Reads wait until the indexer has passed the spool's end as it was when the read arrived
(read-your-writes), so nobody sees the difference but the producers.

Layout: ``<spool_dir>/<start>.jsonl`` segments, ``start`` the segment's first byte in the spool's
one byte sequence (zero-padded, so names sort in order). The service appends to the newest
segment and starts a new one past ``segment_bytes`` and at every start (a killed service may have
left a torn last line, which was never acknowledged). The indexer ingests the segments in order
with the store's incremental file ingest (offsets commit with the events), and deletes a segment
once it is stored and a newer one exists.

Durability is the store's: a line is in the OS's file cache when the request is answered, so it
survives the service being killed; like SQLite's WAL at synchronous=NORMAL, not a power cut.

Dead letters: every event was validated before it was acknowledged, but if the store still fails
on one (or a spool written by an older service holds one the validator now refuses), that event is
set aside, with the reason, into ``<spool_dir>/dead-letter.jsonl`` (one JSON object a line:
``at``, ``source`` segment, ``line``, ``kind``, ``reason``, ``event``) and recorded as an ingest
issue; the indexer moves on. ``GET /api/v1/health`` and ``lineage check`` report the count.
A line may be written twice if the indexer is killed at that moment, never lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import os
import select
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lineage.store import LineageStore, LineageUsageError

log = logging.getLogger("lineage.spool")
SUFFIX = ".jsonl"
DEAD_LETTER = "dead-letter.jsonl"


def segments(folder: Path) -> list[tuple[int, Path]]:
    """The spool's segments as (start position, path), oldest first."""
    found = []
    for path in folder.glob(f"*{SUFFIX}"):
        if path.stem.isdigit():
            found.append((int(path.stem), path))
    return sorted(found)


def spool_folder(cfg: Any) -> str:
    """``lineage.serve.spool_dir`` of a pipeline config, ``{data_root}`` expanded; LineageUsageError
    if it is not a local folder (the spool is appended to on every write)."""
    folder = cfg.lineage.serve.spool_dir.replace("{data_root}", cfg.data_root)
    if "://" in folder:
        raise LineageUsageError(f"lineage.serve.spool_dir {folder!r} is not a local folder: set it to one "
                                "(the spool is appended to on every write)")
    return folder


def dead_letter_path(folder: str | os.PathLike[str]) -> Path:
    """The dead-letter file of the spool in ``folder``."""
    return Path(folder) / DEAD_LETTER


class DeadLetterCount:
    """Events in a spool's dead-letter file, counted again only when the file has grown."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.path = dead_letter_path(folder)
        self._size, self._count = 0, 0

    @property
    def value(self) -> int:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0
        if size != self._size:
            with open(self.path, "rb") as fh:
                self._count = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
            self._size = size
        return self._count


def _segment_path(folder: Path, start: int) -> Path:
    return folder / f"{start:020d}{SUFFIX}"


class Spool:
    """The append side, used by the service's event loop only (no locking inside the process).

    One service per spool: an exclusive lock on ``<spool_dir>/.lock`` refuses a second one. The
    spool also records which store it feeds, so pointing a service at another store with the
    same spool is refused rather than indexing one store's events into another."""

    def __init__(self, folder: str | os.PathLike[str], store_url: str, segment_bytes: int = 64 << 20):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._lock = open(self.folder / ".lock", "a+")  # noqa: SIM115 - held for the spool's life
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise LineageUsageError(f"another lineage serve is using the spool {self.folder}") from None
        owner = self.folder / "STORE"
        if owner.exists() and owner.read_text().strip() != store_url:
            self._lock.close()
            raise LineageUsageError(
                f"the spool {self.folder} feeds the store {owner.read_text().strip()!r}, not {store_url!r}: "
                "set lineage.serve.spool_dir to a folder of its own for each store")
        owner.write_text(store_url + "\n")
        existing = segments(self.folder)
        self.end = existing[-1][0] + existing[-1][1].stat().st_size if existing else 0
        self._fd = -1
        self._segment_end = 0
        self._rotate()

    def _rotate(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        path = _segment_path(self.folder, self.end)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._segment_end = self.end + self.segment_bytes

    def append(self, lines: bytes) -> int:
        """Append complete lines (one write, so a reader never sees half of an acknowledged line);
        returns the spool position after them."""
        if self.end >= self._segment_end:
            self._rotate()
        written = os.write(self._fd, lines)
        while written < len(lines):  # a regular file takes it all unless the disk is full
            more = os.write(self._fd, lines[written:])
            if more == 0:
                raise OSError(f"could not append to the spool {self.folder}")
            written += more
        self.end += len(lines)
        return self.end

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._lock.close()


def index_spool(store: LineageStore, folder: Path, offsets: dict[Path, int]) -> int:
    """One pass of the indexer: ingest what was appended to each segment since ``offsets``
    (updated in place), delete segments that are stored and superseded; returns the spool
    position up to which everything is stored."""
    found = segments(folder)
    position = 0
    for number, (start, path) in enumerate(found):
        last = number == len(found) - 1
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue
        if path not in offsets:
            offsets[path] = store.file_offset(path)
        if offsets[path] < size:
            report = store.ingest_file(path, dead_letter=dead_letter_path(folder))
            offsets[path] = report.bytes_read if report.restarted else offsets[path] + report.bytes_read
            for issue in report.issues:
                log.error("spool line set aside in %s: %s", dead_letter_path(folder), issue)
        position = start + offsets[path]
        if last:
            break
        if offsets[path] < size:
            # Only the line a killed service was writing can be left unterminated in a closed
            # segment, and it was never acknowledged.
            log.warning("%s: %d bytes of a torn, unacknowledged write dropped", path, size - offsets[path])
        store.forget_file(path)
        path.unlink(missing_ok=True)
        del offsets[path]
        position = start + size
    return position


class Progress:
    """The spool position the indexer has stored up to, shared through an 8-byte memory-mapped
    file (``<spool_dir>/.indexed``): the indexer writes it, the service reads it on every read
    request, with no system call either side. -1 until the indexer's first pass."""

    def __init__(self, folder: Path):
        path = folder / ".indexed"
        with open(path, "a+b") as fh:
            if os.fstat(fh.fileno()).st_size < 8:
                fh.truncate(0)
                fh.write(struct.pack("<q", -1))
        self._fh = open(path, "r+b")  # noqa: SIM115 - mapped for the object's life
        self._map = mmap.mmap(self._fh.fileno(), 8)

    @property
    def value(self) -> int:
        return struct.unpack_from("<q", self._map)[0]

    @value.setter
    def value(self, position: int) -> None:
        struct.pack_into("<q", self._map, 0, position)

    def close(self) -> None:
        self._map.close()
        self._fh.close()


def run_indexer(store_url: str, folder: Path, wakeups: int = 0) -> None:
    """The indexer process: index the spool whenever the service says it appended (a byte on
    ``wakeups``, its stdin), and once a second regardless. End of file on ``wakeups`` means the
    service stopped, or was killed: one last pass stores what it acknowledged, then the indexer
    exits, so no orphan keeps writing to the store. It also exits if it finds itself re-parented
    (its service gone without the pipe closing, e.g. the pipe inherited elsewhere).

    A pass fails only when the database is unavailable (one bad event is set aside by the ingest,
    ``lineage.store.ingest``): the indexer waits a second, still watching for its service's end."""
    service = os.getppid()
    store = LineageStore(store_url)
    checkpointer = store.checkpoint_in_background()  # commits come often when the load is light
    progress = Progress(folder)  # -1 until the first pass: the service set it when it started us
    offsets: dict[Path, int] = {}
    service_gone = False
    try:
        while True:
            before = progress.value
            try:
                progress.value = index_spool(store, folder, offsets)
                pause = 0 if progress.value != before else 1.0
            except Exception:  # noqa: BLE001 - a database that is down: keep the spool, try again
                log.exception("indexing the spool %s failed; retrying in 1 s", folder)
                offsets.clear()  # part of a file may have been stored: ask the store again
                pause = 1.0
            if service_gone or os.getppid() != service:
                return
            # Busy: look for more at once; idle: sleep until a wake-up (no polling at rest).
            readable, _, _ = select.select([wakeups], [], [], pause)
            if readable and not os.read(wakeups, 65536):
                service_gone = True
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        store.engine.dispose()
        progress.close()


class Indexer:
    """The indexer process, seen from the service: start, progress, wake-ups, restart if it died,
    stop.

    A process of its own (``python -m lineage.spool``), not a thread: sharing the service's GIL,
    the store's work per event slowed the request handling more than it cost (measured)."""

    RESTART_AFTER_S = 5.0
    # How long a stop waits for the indexer's last pass: what it has not stored stays in the spool
    # and is stored at the next start, so a stop need not wait for a backlog (it waited 120 s).
    STOP_WAIT_S = 5.0

    def __init__(self, store_url: str, folder: Path):
        self.store_url, self.folder = store_url, Path(folder)
        self.indexed = Progress(self.folder)
        self.indexed.value = -1
        self.process: subprocess.Popen | None = None
        self._started = 0.0
        self.start()

    def start(self) -> None:
        # The URL goes through the environment, not argv: it may hold a password.
        env = {**os.environ, "LINEAGE_INDEXER_STORE_URL": self.store_url}
        self.process = subprocess.Popen([sys.executable, "-m", "lineage.spool", str(self.folder)], env=env,
                                        stdin=subprocess.PIPE)
        os.set_blocking(self.process.stdin.fileno(), False)
        self._started = time.monotonic()

    def wake(self) -> None:
        """Tell the indexer there is something new (never blocks: a full pipe has wake-ups enough)."""
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self.process.stdin.fileno(), b"\0")

    def ensure_running(self) -> None:
        """Start the indexer again if it exited (at most every ``RESTART_AFTER_S``)."""
        if self.process.poll() is None or time.monotonic() - self._started < self.RESTART_AFTER_S:
            return
        log.error("the spool indexer exited (code %s); starting it again", self.process.returncode)
        self.process.stdin.close()
        self.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Store what the spool holds (for at most ``STOP_WAIT_S``), then stop the indexer. Killing
        it mid-batch is safe: a batch and its spool offset commit together."""
        self.process.stdin.close()  # end of file: the indexer's last pass
        try:
            self.process.wait(self.STOP_WAIT_S if timeout_s is None else timeout_s)
        except subprocess.TimeoutExpired:  # what is left stays in the spool for the next start
            self.process.kill()
            self.process.wait()
        self.indexed.close()


def main(argv: list[str] | None = None) -> int:
    (folder,) = argv or sys.argv[1:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run_indexer(os.environ["LINEAGE_INDEXER_STORE_URL"], Path(folder), sys.stdin.fileno())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
