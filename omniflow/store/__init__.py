"""The store: content-addressed cache, lock file, submission journal (design.md §2).

Layout of a project's state (``<root>/.omniflow/``)::

    objects/ index/ tmp/ quarantine/   the cache (omniflow.store.cache)
    journal.sqlite                     the submissions (omniflow.store.journal)
    run.lock                           one run at a time (project_lock)

and beside each pipeline ``x.yaml`` its lock ``x.lock`` (omniflow.store.lock).
The store knows bytes and keys, not HTTP and not media.
"""

from omniflow.store._atomic import utc_iso, write_atomic
from omniflow.store.cache import Cache, Entry, ObjectInfo, ext_for
from omniflow.store.entries import make_entry
from omniflow.store.journal import (
    FINAL_STATES,
    PENDING_STATES,
    STATES,
    Journal,
    JournalRow,
)
from omniflow.store.lock import (
    LockFile,
    LockStep,
    dumps_lock,
    loads_lock,
    read_lock,
    update_lock,
    variant_label,
    write_lock,
)
from omniflow.store.root import STATE_DIR, find_root, lock_path_for, state_dir
from omniflow.store.runlock import project_lock

__all__ = [
    "Cache",
    "Entry",
    "FINAL_STATES",
    "Journal",
    "JournalRow",
    "LockFile",
    "LockStep",
    "ObjectInfo",
    "PENDING_STATES",
    "STATES",
    "STATE_DIR",
    "dumps_lock",
    "ext_for",
    "find_root",
    "loads_lock",
    "lock_path_for",
    "make_entry",
    "project_lock",
    "read_lock",
    "state_dir",
    "update_lock",
    "utc_iso",
    "variant_label",
    "write_atomic",
    "write_lock",
]
