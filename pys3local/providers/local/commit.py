"""The commit protocol of the local backend (atomic, durable writes), deletes, and
recovery after a crash.

How an object version becomes visible (the commit protocol):

1. The body streams into ``staging/<writer>/<id>.data``; it is fsynced.
2. Its metadata is written to ``staging/<writer>/<id>.meta`` and fsynced. The
   metadata names its bucket and key, so it doubles as a journal entry.
3. Under the key's exclusive lock: ``<id>.data`` is renamed onto the object path,
   then ``<id>.meta`` onto the sidecar path; both parent directories are fsynced.

Small writes from the event loop share these fsyncs with each other (group commit,
:mod:`.group_sync`): one ``syncfs`` round makes the staged files of every write that
is ready durable (steps 1 and 2), the renames follow, and a second round makes them
durable (step 3). The order, and so what a crash can leave, stays the same.

Readers take the key's shared lock while they open the data file and read the
sidecar, so they never see the data of one version with the metadata of another.
A crash between the two renames leaves ``<id>.meta`` without ``<id>.data``: recovery
finishes the commit (roll forward). A crash before the first rename leaves both:
recovery deletes them (the earlier version stays). Deleting removes the data first,
so a crash in between leaves an invisible, harmless sidecar, never visible data
without metadata.

Each live process owns one staging directory and holds an exclusive ``flock`` on
``<writer>.lock`` for its whole life; recovery only touches directories whose lock
it can take, i.e. whose owner is dead. That keeps several workers or servers on one
data directory from deleting each other's in-flight files.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import (
    create_file,
    fsync_dir,
    hold_for_release,
    json_bytes,
    make_parents,
    prune_empty_dirs,
    release_later,
    rename_into_place,
    sync_and_close,
)
from .group_sync import GroupSync
from .layout import UPLOAD_ID, ObjectPaths, StoreLayout
from .locks import LockBusy, StripedLocks
from .staging import StagedFile

log = logging.getLogger("pys3local.local")


def journal_path(staged_data: Path | str) -> str:
    return os.path.splitext(staged_data)[0] + ".meta"


def discard_staged(*paths: Path | str) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@dataclass(slots=True)
class Commit:
    """One new version of a key on its way to being visible: steps 2 and 3 of the
    protocol above, each written once.

    How the steps are driven is up to the write path, and both drivers are below:
    :func:`commit` runs them all on the calling pool thread, :func:`commit_from_loop`
    runs them on the event loop and sends only what waits for the disk to the pool.
    """

    locks: StripedLocks
    objects_dir: Path
    metadata_dir: Path
    bucket: str
    key: str
    paths: ObjectPaths
    staged_data: Path
    durable: bool
    #: A write condition (``If-None-Match: *``, ``If-Match``, append-only keys):
    #: raises to refuse the write, see :meth:`publish`.
    check: Callable[[], None] | None = None
    #: Versioned buckets only: run under the key's lock before / after the renames.
    before_publish: Callable[[], None] | None = None
    after_publish: Callable[[], None] | None = None
    #: Versioned buckets only: under the key's lock, whether ``before_publish`` has
    #: nothing to keep (no version to replace), so the publish needs no disk wait.
    nothing_to_keep: Callable[[], bool] | None = None
    staged_meta: str = field(init=False)

    def __post_init__(self) -> None:
        self.staged_meta = journal_path(self.staged_data)

    def write_journal(self, metadata_document: dict[str, object]) -> int:
        """Step 2 without its fsync: the journal entry (the sidecar naming its bucket
        and key). Returns its open descriptor, for the caller to sync and close."""
        entry = {"bucket": self.bucket, "key": self.key, **metadata_document}
        return create_file(self.staged_meta, json_bytes(entry))

    def abandon(self) -> None:
        """Remove both staged files (before step 3: the earlier version stays)."""
        discard_staged(self.staged_data, self.staged_meta)

    def publish(self, *, wait: bool = True) -> None:
        """Step 3 without the directory fsyncs: both renames under the key's lock.

        Both staged files must already be durable. With ``wait=False`` a busy lock
        raises LockBusy and leaves everything as it was, and so does a versioned
        publish that has a version to keep (fsyncs: disk work for a pool thread).

        ``check`` (a write condition, see :mod:`.preconditions`) runs first and may
        refuse (PreconditionFailed, NoSuchKey): the check and the renames happen under
        the same exclusive lock that every writer and deleter of the key takes, in any
        process, so nothing can come between them. On a refusal the journal entry is
        removed; the staged data stays for the caller to discard or give back (a
        multipart upload's assembled data goes back to its upload).
        """
        with self.locks.hold(self.bucket, self.key, exclusive=True, wait=wait):
            if not wait and self._keeps_a_version():
                raise LockBusy()
            self.publish_held()

    def _keeps_a_version(self) -> bool:
        """Whether the versioned hooks have disk work to do (keep the replaced version,
        drop older null versions); asked under the key's lock."""
        if self.after_publish is not None:
            return True
        if self.before_publish is None:
            return False
        return self.nothing_to_keep is None or not self.nothing_to_keep()

    def publish_held(self) -> None:
        """:meth:`publish` for a caller that already holds the key's exclusive lock.

        In a versioned bucket ``before_publish`` keeps the version being replaced (see
        :mod:`.versions`) before the data rename, and ``after_publish`` drops what the
        new version replaces for good, both under the same lock.
        """
        paths = self.paths
        if self.check is not None:
            try:
                self.check()
            except BaseException:
                discard_staged(self.staged_meta)
                raise
        data_renamed = False
        replaced = None
        try:
            # The sidecar's directory first: after the data rename nothing may fail.
            make_parents(self.metadata_dir, paths.metadata)
            if self.before_publish is not None:
                self.before_publish()
            replaced = hold_for_release(paths.data)
            rename_into_place(self.staged_data, paths.data, self.objects_dir)
            data_renamed = True
            rename_into_place(self.staged_meta, paths.metadata, self.metadata_dir)
        except BaseException:
            if data_renamed:
                # The old version is already replaced, so there is nothing to roll
                # back to: the journal entry stays for recovery to roll forward.
                log.error(
                    "metadata commit of %s/%s failed; recovery will finish it",
                    self.bucket,
                    self.key,
                )
            else:
                discard_staged(self.staged_meta, self.staged_data)
                prune_empty_dirs(paths.metadata.parent, self.metadata_dir)
            raise
        finally:
            release_later(replaced)
        if self.after_publish is not None:
            self.after_publish()

    @classmethod
    def of_key(
        cls,
        layout: StoreLayout,
        locks: StripedLocks,
        bucket: str,
        key: str,
        paths: ObjectPaths,
        staged_data: Path,
        durable: bool,
        **options: Any,
    ) -> Commit:
        """A commit of ``staged_data`` as ``bucket``/``key`` in the store ``layout``
        (``options``: check, before_publish, after_publish)."""
        objects_dir, metadata_dir = layout.objects_dir(bucket), layout.metadata_dir(bucket)
        return cls(
            locks, objects_dir, metadata_dir, bucket, key, paths, staged_data, durable, **options
        )

    @property
    def parent_dirs(self) -> tuple[Path, Path]:
        """The directories whose fsync makes the renames of :meth:`publish` durable."""
        return self.paths.data.parent, self.paths.metadata.parent


def commit(pending: Commit, metadata_document: dict[str, object]) -> None:
    """Steps 2 and 3 on the calling thread (a pool thread), for a staged data file
    that is already durable (fsynced when it was finished)."""
    try:
        _close_durably(pending.durable, pending.write_journal(metadata_document))
    except BaseException:
        pending.abandon()
        raise
    pending.publish()
    if pending.durable:
        for directory in pending.parent_dirs:
            fsync_dir(directory)


async def commit_from_loop(
    pending: Commit,
    metadata_document: dict[str, object],
    staged: StagedFile,
    run: Callable[..., Awaitable[Any]],
    group: GroupSync | None = None,
    errors_before: int = 0,
) -> None:
    """Steps 1's fsync, 2 and 3 from the event loop, for a small staged file still
    open and not yet fsynced.

    Creating, writing and renaming small files is page-cache work of microseconds,
    cheaper on the event loop than in a pool thread where every system call has to
    win the GIL back from the loop; only what waits for the disk (the fsyncs, a busy
    key lock) goes to ``run`` (the pool), side by side where the protocol allows.

    With ``group`` (available), the fsyncs are shared with every other write ready at
    the same time: one round of ``group`` in place of the fsyncs of step 1 and 2,
    another in place of the directory fsyncs of step 3, in the same order, so a
    crash leaves exactly what it left before. ``errors_before`` is ``group.errors``
    from before the staged file was created: if a round has seen a writeback error
    since, this write's own files are fsynced too, to learn whether the error was
    theirs.
    """
    durable = pending.durable
    shared = durable and group is not None and group.available
    fds: tuple[int, ...] = ()
    try:
        meta_fd = pending.write_journal(metadata_document)
        fds = (staged.detach(), meta_fd)
        if shared:
            assert group is not None
            await group.sync(run)
            if group.errors != errors_before:
                own, fds = fds, ()
                await run(sync_and_close, *own)
        elif durable:
            # Side by side, the two fsyncs can share one journal commit.
            own, fds = fds, ()
            await asyncio.gather(*(run(sync_and_close, fd) for fd in own))
    except BaseException:
        _close_durably(False, *fds)
        staged.discard()
        pending.abandon()
        raise
    _close_durably(False, *fds)
    try:
        try:
            # A versioned publish that keeps the replaced version (fsyncs) refuses
            # here too: that is disk work for the pool, not the event loop.
            pending.publish(wait=False)
        except LockBusy:
            await run(pending.publish)
    except BaseException:
        # Refused by its condition: the staged data is still there (any other
        # failure has already removed it, or renamed it into place).
        discard_staged(pending.staged_data)
        raise
    if shared:
        assert group is not None
        await group.sync(run)
        if group.errors == errors_before:
            return
    if durable:
        await asyncio.gather(*(run(fsync_dir, d) for d in pending.parent_dirs))


def _close_durably(durable: bool, *fds: int) -> None:
    """fsync (if ``durable``) and close descriptors of staged files."""
    if durable:
        sync_and_close(*fds)
    else:
        for fd in fds:
            os.close(fd)


def remove_object(
    locks: StripedLocks,
    bucket: str,
    key: str,
    paths: ObjectPaths,
    stops: tuple[Path, Path],
    check: Callable[[], None] | None = None,
) -> bool:
    """Delete one object: data first, then its sidecar, then empty parents.

    ``check`` runs first under the key's lock and may refuse (raise), so a condition
    and the delete are one step (a conditional delete).
    """
    removed = None
    with locks.hold(bucket, key, exclusive=True):
        if check is not None:
            check()
        try:
            removed = hold_for_release(paths.data)
            os.unlink(paths.data)
            existed = True
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            existed = False
        finally:
            release_later(removed)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            os.unlink(paths.metadata)
    prune_empty_dirs(paths.data.parent, stops[0])
    prune_empty_dirs(paths.metadata.parent, stops[1])
    return existed


def recover(layout: StoreLayout) -> bool:
    """Finish or undo the commits of writers that died, and remove their temp files.

    Returns whether no other writer is alive (none holds its staging lock)."""
    if not layout.staging.is_dir():
        return True
    alone = True
    for lock_path in layout.staging.glob("*.lock"):
        fd = os.open(lock_path, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                alone = False
                continue  # its owner is alive
            _recover_writer(layout, lock_path.with_suffix(""))
            os.unlink(lock_path)
        finally:
            os.close(fd)
    # Staging directories whose lock file is gone belong to nobody.
    for entry in layout.staging.iterdir():
        if entry.is_dir() and not entry.with_suffix(".lock").exists():
            _recover_writer(layout, entry)
    return alone


def _recover_writer(layout: StoreLayout, staging_dir: Path) -> None:
    if not staging_dir.is_dir():
        return
    for meta in staging_dir.glob("*.meta"):
        data = meta.with_suffix(".data")
        if data.exists():
            continue  # commit never started: dropped (or given back) below
        try:
            document = json.loads(meta.read_bytes())
            bucket, key = document["bucket"], document["key"]
            paths = layout.object_paths(bucket, key)
            if not _journal_describes(document, paths.data):
                # Its data was replaced or removed since (the key's lock went to
                # another writer while this journal's owner could not be recovered):
                # its sidecar would now describe the wrong file.
                log.warning("dropped a stale journal entry of %s/%s", bucket, key)
                continue
            rename_into_place(meta, paths.metadata, layout.metadata_dir(bucket))
            log.warning("recovered an interrupted write of %s/%s", bucket, key)
        except Exception:
            log.exception("could not recover journal entry %s; discarding it", meta)
    # A multipart upload's data file taken over for a commit that never happened goes
    # back to its upload, which the client can then complete again.
    for data in staging_dir.glob("*.data"):
        upload_dir = layout.uploads / data.stem
        if UPLOAD_ID.fullmatch(data.stem) and upload_dir.is_dir():
            with contextlib.suppress(OSError):
                os.rename(data, upload_dir / "data")
    shutil.rmtree(staging_dir, ignore_errors=True)


def _journal_describes(document: dict[str, Any], data: Path) -> bool:
    """Whether the object file ``data`` is the one a journal entry describes (its
    inode and size; an entry without an inode is taken as it is)."""
    try:
        st = os.stat(data)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return document.get("ino", st.st_ino) == st.st_ino and document.get("size") == st.st_size
