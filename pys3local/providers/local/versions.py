"""Object versions on the local backend: ids, non-current versions, delete markers.

The latest version of a key stays where an unversioned object lives
(``objects/<key>`` and its sidecar), so GET, HEAD and ListObjectsV2 of live objects
cost what they always did. Every other version, and every delete marker, lives in the
key's versions directory (:meth:`~.layout.StoreLayout.key_versions_dir`) as
``<name>`` (data) and ``<name>.json`` (its sidecar, which for a delete marker is all
there is: ``"delete_marker": true``).

Names sort newest first: a version id is 16 hex digits of the inverted nanosecond
clock and 8 random ones (opaque to clients); the ``null`` version (written before
versioning was enabled, or while it is suspended) is stored as ``<inverted time>-null``
and shown as ``null``. So a key's versions are one sorted directory read.

Crash safety, with every step under the key's exclusive lock:

* Keeping the version a write replaces: its sidecar, then its data are hard-linked
  into the versions directory (fsynced), then the one commit protocol
  (:mod:`.commit`) renames the new version into place. A crash before the rename
  leaves the old version current *and* linked; a copy with the current version's id
  is never listed or read (the current one wins), and the next write re-links it.
* A delete marker is written first, then the current version moves to the versions
  directory (sidecar linked, data renamed: one atomic step). A crash in between leaves
  the object current with a newer non-current marker: nothing is lost.
* Removing a version for good goes through :meth:`VersionStore.remove_version`, the
  one place a version goes; it refuses a version Object Lock protects (retention,
  legal hold: :mod:`.protection`), as do the in-place replacements of a ``null``
  version (suspended versioning). When it removes the
  latest, the next version is committed back into ``objects/`` (a staged hard link
  and a journal entry, the commit protocol again) before the removed one's files go.

A sidecar without its data file is never a version (a removal interrupted between
the two unlinks); it is skipped.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from pys3local.errors import (
    InvalidArgument,
    MethodNotAllowed,
    NoSuchKey,
    NoSuchVersion,
    S3Error,
)
from pys3local.providers.base import ObjectInfo
from pys3local.providers.versioning import NULL_VERSION, DeleteOutcome

from .bucket_config import BucketConfigs
from .commit import Commit
from .files import (
    create_file,
    ensure_dir,
    fsync_dir,
    json_bytes,
    make_parents,
    prune_empty_dirs,
    sync_and_close,
)
from .layout import ObjectPaths, StoreLayout
from .locks import StripedLocks
from .protection import guard_removal
from .sidecar import metadata_document, object_info, read_sidecar
from .staging import StagingArea
from .version_entries import NULL_SUFFIX, Entry, read_entries, version_id_of
from .version_repair import TEMPORARY, describes, journal_entry, linked_entry

VERSION_ID = re.compile(r"[0-9a-f]{24}")
_CLOCK_MAX = 2**64 - 1


def new_version_id() -> str:
    """A fresh version id, sorting before every id made earlier."""
    return f"{_CLOCK_MAX - time.time_ns():016x}{secrets.token_hex(4)}"


def _null_name(moment: datetime) -> str:
    ns = int(moment.timestamp() * 1_000_000) * 1000
    return f"{_CLOCK_MAX - ns:016x}{NULL_SUFFIX}"


def check_version_id(version_id: str) -> None:
    """InvalidArgument for an id we could never have made (it never reaches a path)."""
    if version_id != NULL_VERSION and not VERSION_ID.fullmatch(version_id):
        raise InvalidArgument(
            "Invalid version id specified", ArgumentName="versionId", ArgumentValue=version_id
        )


def marker_headers(version_id: str) -> dict[str, str]:
    return {"x-amz-delete-marker": "true", "x-amz-version-id": version_id}


@dataclass(frozen=True, slots=True)
class Current:
    """The version in ``objects/``: its data file's stat and sidecar."""

    st: os.stat_result
    document: dict[str, object] | None
    version_id: str
    #: Whether the sidecar in ``objects/`` is ``document`` (else it describes
    #: another version, or there is none).
    sidecar_is_document: bool = True


class VersionStore:
    """Version chains of one data directory (blocking: call on a pool thread)."""

    def __init__(
        self,
        layout: StoreLayout,
        locks: StripedLocks,
        staging: StagingArea,
        configs: BucketConfigs,
        *,
        durable: bool,
        changed: Callable[[str, str], None] | None = None,
    ) -> None:
        self.layout = layout
        self._locks = locks
        self._staging = staging
        self.configs = configs
        self.durable = durable
        #: Told (bucket, key) after every change to a key's versions directory,
        #: with the key's lock held (the listing rows of :mod:`.version_index`).
        self.changed: Callable[[str, str], None] = changed or _nothing

    # Writes ----------------------------------------------------------------------

    def write_version_id(self, bucket: str) -> str | None:
        """The id a new write gets: None in an unversioned bucket, ``null`` while
        versioning is suspended, a fresh id while it is enabled."""
        state = self.configs.versioning(bucket)
        if state is None:
            return None
        return new_version_id() if state == "Enabled" else NULL_VERSION

    def publish_hooks(
        self, bucket: str, key: str, paths: ObjectPaths, version_id: str
    ) -> tuple[Callable[[], None], Callable[[], None] | None, Callable[[], bool]]:
        """What a commit of a version with ``version_id`` runs under the key's lock:
        keep the version it replaces; with ``null``, drop the older null version.
        The third hook tells, under the same lock, that the first has nothing to do
        (a new key: no version to keep)."""
        suspended = version_id == NULL_VERSION

        def before() -> None:
            current = self._current(bucket, key, paths)
            if suspended:  # the null version is replaced in place: Object Lock may refuse
                if current is not None and current.version_id == NULL_VERSION:
                    guard_removal(current.document)
                self._guard_nulls(self.layout.key_versions_dir(bucket, key), keep=None)
            if current is not None and not (suspended and current.version_id == NULL_VERSION):
                self._keep(bucket, key, paths, current, move=False)
                self.changed(bucket, key)

        def after() -> None:
            self._drop_nulls(self.layout.key_versions_dir(bucket, key), keep=None)
            self.changed(bucket, key)

        def nothing_to_keep() -> bool:
            return not suspended and not os.path.lexists(paths.data)

        return before, after if suspended else None, nothing_to_keep

    def add_marker(
        self,
        bucket: str,
        key: str,
        paths: ObjectPaths,
        check: Callable[[], None] | None = None,
    ) -> DeleteOutcome:
        """DeleteObject without a version id in a versioned bucket (``check`` runs
        first under the key's lock and may refuse)."""
        version_id = self.write_version_id(bucket) or NULL_VERSION
        now = datetime.now(timezone.utc)
        name = version_id if version_id != NULL_VERSION else _null_name(now)
        directory = self.layout.key_versions_dir(bucket, key)
        marker = {"delete_marker": True, "last_modified": now.isoformat()}
        with self._locks.hold(bucket, key, exclusive=True):
            if check is not None:
                check()
            current = self._current(bucket, key, paths)
            if version_id == NULL_VERSION:  # a null marker replaces the null version
                if current is not None and current.version_id == NULL_VERSION:
                    guard_removal(current.document)
                self._guard_nulls(directory, keep=None)
            self._make_dir(bucket, directory)
            self._place(directory, name + ".json", json_bytes(marker))
            self._sync(directory)
            if current is not None:
                if version_id == NULL_VERSION and current.version_id == NULL_VERSION:
                    self._unlink_current(paths)  # the null marker replaces it
                else:
                    self._keep(bucket, key, paths, current, move=True)
            if version_id == NULL_VERSION:
                self._drop_nulls(directory, keep=name)
            self._prune(bucket, key, paths)
            self.changed(bucket, key)
        return DeleteOutcome(version_id, delete_marker=True)

    def remove_version(
        self,
        bucket: str,
        key: str,
        paths: ObjectPaths,
        version_id: str,
        *,
        bypass_governance: bool = False,
        check: Callable[[Current | None, Iterator[Entry]], bool] | None = None,
    ) -> DeleteOutcome:
        """Remove one version or delete marker for good: the one way a version goes.

        Removing the latest version makes the next one latest (a version is committed
        back into ``objects/``; a marker simply stays latest). A version that is not
        there is not an error. A version Object Lock protects is AccessDenied
        (``bypass_governance`` lifts a GOVERNANCE retention), checked under the key's
        lock, so no change of its retention can come in between.

        ``check`` (the lifecycle sweep's, which decided from an earlier look at the
        key) sees the current version and the key's other versions, newest first,
        under the key's lock; when it answers False nothing is removed and the
        outcome's ``version_id`` is None.
        """
        check_version_id(version_id)
        directory = self.layout.key_versions_dir(bucket, key)
        with self._locks.hold(bucket, key, exclusive=True):
            current = self._current(bucket, key, paths)
            if check is not None and not check(current, read_entries(directory, _id(current))):
                return DeleteOutcome(None)
            if current is not None and current.version_id == version_id:
                guard_removal(current.document, bypass=bypass_governance)
                self._remove_named(directory, version_id)
                successor = next(read_entries(directory, None), None)
                if successor is not None and not successor.delete_marker:
                    self._promote(bucket, key, paths, directory, successor)
                else:
                    self._unlink_current(paths)
                outcome = DeleteOutcome(version_id)
            else:
                entries = read_entries(directory, current.version_id if current else None)
                latest = current is None
                outcome = DeleteOutcome(version_id)
                for entry in entries:
                    if entry.version_id == version_id:
                        guard_removal(entry.document, bypass=bypass_governance)
                        outcome = DeleteOutcome(version_id, delete_marker=entry.delete_marker)
                        if latest:
                            successor = next(entries, None)
                            if successor is not None and not successor.delete_marker:
                                self._promote(bucket, key, paths, directory, successor)
                        self._remove_named(directory, version_id)
                        break
                    latest = False
            self._prune(bucket, key, paths)
            self.changed(bucket, key)
        return outcome

    # Reads -----------------------------------------------------------------------

    def current(self, bucket: str, key: str, paths: ObjectPaths) -> Current | None:
        """The version in ``objects/`` (call with the key's lock held)."""
        return self._current(bucket, key, paths)

    def open_version(
        self, bucket: str, key: str, paths: ObjectPaths, version_id: str
    ) -> tuple[int, ObjectInfo]:
        """Open one version's data; raises NoSuchVersion, NoSuchKey (``null``),
        MethodNotAllowed (a delete marker)."""
        check_version_id(version_id)
        directory = self.layout.key_versions_dir(bucket, key)
        with self._locks.hold(bucket, key, exclusive=False):
            try:
                fd = os.open(paths.data, os.O_RDONLY)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                fd = -1
            if fd >= 0:
                st = os.fstat(fd)
                document = self.describe(bucket, key, st, read_sidecar(paths.metadata))
                current_id = _id_in(document)
                if current_id == version_id and stat.S_ISREG(st.st_mode):
                    info = object_info(key, st, document)
                    return fd, replace(info, version_id=current_id)
                os.close(fd)
            else:
                current_id = None
            for entry in read_entries(directory, current_id):
                if entry.version_id != version_id:
                    continue
                if entry.delete_marker:
                    error = MethodNotAllowed(
                        "The specified method is not allowed against this resource.",
                        Method="GET",
                        ResourceType="DeleteMarker",
                    )
                    error.headers.update(marker_headers(version_id))
                    raise error
                fd = os.open(directory / entry.name, os.O_RDONLY)
                st = os.fstat(fd)
                return fd, replace(object_info(key, st, entry.document), version_id=version_id)
        if version_id == NULL_VERSION:
            raise NoSuchKey(Key=key)
        raise NoSuchVersion(Key=key, VersionId=version_id)

    def latest_marker(self, bucket: str, key: str, paths: ObjectPaths) -> str | None:
        """The id of the delete marker that is the key's latest version, if it is one
        (for the 404 of a GET of a deleted key)."""
        try:
            directory = self.layout.key_versions_dir(bucket, key)
            if not os.path.isdir(directory):  # an unversioned key: one failed stat
                return None
        except (OSError, S3Error):  # a name the versions tree cannot hold
            return None
        with self._locks.hold(bucket, key, exclusive=False):
            if self._current(bucket, key, paths) is not None:
                return None
            latest = next(read_entries(directory, None), None)
        return latest.version_id if latest is not None and latest.delete_marker else None

    def entries(
        self, directory: Path | str, current_id: str | None, *, after: str | None = None
    ) -> Iterator[Entry]:
        """A key's non-current versions and markers, newest first, without copies of
        ``current_id`` or of an id seen already, nor data-less sidecars; with
        ``after``, only those after that version (found by name: the ones before it
        are not read), nothing if it is not there."""
        return read_entries(directory, current_id, after)

    # Internals -------------------------------------------------------------------

    def _current(self, bucket: str, key: str, paths: ObjectPaths) -> Current | None:
        try:
            st = os.lstat(paths.data)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        sidecar = read_sidecar(paths.metadata)
        document = self.describe(bucket, key, st, sidecar)
        return Current(st, document, _id_in(document), document is sidecar)

    def describe(
        self, bucket: str, key: str, st: os.stat_result, document: dict[str, object] | None
    ) -> dict[str, object] | None:
        """The metadata of the data file ``st`` in ``objects/``: its sidecar
        ``document`` if that describes it, else None (a file put there by other means).

        Between a commit's data rename and its sidecar rename (or after a crash there,
        until recovery rolls the commit forward, which a live owner of the journal
        prevents), the sidecar still describes the version before. The data's own
        metadata is then the journal entry of that commit, or, for a version committed
        back from the versions directory, that entry (it is a hard link of its data):
        a version is never taken for a nameless ``null`` one.
        """
        if describes(document, st):
            return document
        directory = self.layout.key_versions_dir(bucket, key)
        found = linked_entry(directory, st)
        return found if found is not None else journal_entry(self.layout, bucket, key, st)

    def _keep(
        self, bucket: str, key: str, paths: ObjectPaths, current: Current, *, move: bool
    ) -> None:
        """Put the current version into the versions directory: sidecar first, then the
        data (linked, or with ``move`` renamed so that it leaves ``objects/`` at once)."""
        directory = self.layout.key_versions_dir(bucket, key)
        self._make_dir(bucket, directory)
        document = current.document
        if document is None:  # a file put there by other means: describe it
            info = object_info(key, current.st, None)
            document = metadata_document(info, current.st.st_ino)
        moment = datetime.fromisoformat(str(document["last_modified"]))
        name = current.version_id if current.version_id != NULL_VERSION else _null_name(moment)
        if current.document is not None and current.sidecar_is_document:
            self._link(paths.metadata, directory, name + ".json")
        else:
            self._place(directory, name + ".json", json_bytes(document))
        if move:
            os.rename(paths.data, directory / name)
        else:
            self._link(paths.data, directory, name)
        self._sync(directory)
        if move:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(paths.metadata)

    def _promote(
        self, bucket: str, key: str, paths: ObjectPaths, directory: Path, entry: Entry
    ) -> None:
        """Commit ``entry`` back into ``objects/`` (the lock is held), then drop it from
        the versions directory."""
        staged = self._staging.new_name()
        os.link(directory / entry.name, staged)
        pending = Commit.of_key(self.layout, self._locks, bucket, key, paths, staged, self.durable)
        try:
            fd = pending.write_journal(dict(entry.document))
            if self.durable:
                sync_and_close(fd)
                fsync_dir(staged.parent)
            else:
                os.close(fd)
        except BaseException:
            pending.abandon()
            raise
        pending.publish_held()
        if self.durable:
            for parent in pending.parent_dirs:
                fsync_dir(parent)
        self._remove_named(directory, entry.version_id)

    def _remove_named(self, directory: Path, version_id: str) -> None:
        """Unlink every copy of ``version_id`` in ``directory``, data before sidecar."""
        names = [n for n in _names_in(directory) if version_id_of(n) == version_id]
        for name in names:
            _unlink(directory / name)
            _unlink(directory / (name + ".json"))
        if names:
            self._sync(directory)

    def _drop_nulls(self, directory: Path, *, keep: str | None) -> None:
        """Remove the null versions in ``directory`` other than ``keep`` (suspended
        versioning: a new null version replaces the old one)."""
        for name in _names_in(directory):
            if name.endswith(NULL_SUFFIX) and name != keep:
                _unlink(directory / name)
                _unlink(directory / (name + ".json"))

    def _guard_nulls(self, directory: Path, *, keep: str | None) -> None:
        """AccessDenied if :meth:`_drop_nulls` would drop a protected version."""
        for name in _names_in(directory):
            if name.endswith(NULL_SUFFIX) and name != keep:
                guard_removal(read_sidecar(directory / (name + ".json")))

    def _unlink_current(self, paths: ObjectPaths) -> None:
        _unlink(paths.data)
        _unlink(paths.metadata)

    def _link(self, source: Path, directory: Path, name: str) -> None:
        """Hard-link ``source`` as ``directory/name``, replacing an earlier link (a
        retry after a crash)."""
        temporary = directory / TEMPORARY.format(secrets.token_hex(6))
        os.link(source, temporary)
        os.rename(temporary, directory / name)

    def _place(self, directory: Path, name: str, data: bytes) -> None:
        temporary = directory / TEMPORARY.format(secrets.token_hex(6))
        fd = create_file(temporary, data)
        if self.durable:
            sync_and_close(fd)
        else:
            os.close(fd)
        os.rename(temporary, directory / name)

    def _make_dir(self, bucket: str, directory: Path) -> None:
        if directory.is_dir():
            return
        base = self.layout.versions_dir(bucket)
        ensure_dir(base)
        make_parents(base, directory / "x")
        if self.durable:  # the new directories' entries, up to the bucket's
            parent = directory.parent
            while parent != base.parent:
                fsync_dir(parent)
                parent = parent.parent
            fsync_dir(parent)

    def _sync(self, directory: Path) -> None:
        if self.durable:
            fsync_dir(directory)

    def _prune(self, bucket: str, key: str, paths: ObjectPaths) -> None:
        """Remove the key's directories left empty. Called with the key's lock held:
        the key's versions directory is created (and then written into) only under
        that lock, so pruning it cannot come between a writer's mkdir and its link."""
        prune_empty_dirs(paths.data.parent, self.layout.objects_dir(bucket))
        prune_empty_dirs(paths.metadata.parent, self.layout.metadata_dir(bucket))
        prune_empty_dirs(
            self.layout.key_versions_dir(bucket, key), self.layout.versions_dir(bucket)
        )


def _nothing(bucket: str, key: str) -> None:
    pass


def _id(current: Current | None) -> str | None:
    return current.version_id if current is not None else None


def _id_in(document: dict[str, object] | None) -> str:
    version_id = (document or {}).get("version_id")
    return version_id if isinstance(version_id, str) else NULL_VERSION


def _names_in(directory: Path) -> set[str]:
    """The version names in a key's versions directory (temporary files start with
    a dot)."""
    try:
        files = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return set()
    return {f[:-5] if f.endswith(".json") else f for f in files if not f.startswith(".")}


def _unlink(path: Path | str) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
        os.unlink(path)
