"""Reload the rules when their file changes (RULES_WATCH), for files that change without a
SIGHUP: a Kubernetes ConfigMap, a deploy that rewrites the file.

Polling, not inotify: a ConfigMap update swaps a symlink, which file watchers often miss, and one
`stat` every few seconds costs nothing. The file counts as changed when its size, mtime or inode
(a replaced file) differ from the last look; the reload itself is `RulesHolder.reload`, so a bad
new file keeps the old rules and logs why, exactly as SIGHUP does.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from consumers.rules.holder import RulesHolder

log = structlog.get_logger(__name__)
Sleep = Callable[[float], Awaitable[None]]
Signature = tuple[int, int, int] | None


def signature(path: Path) -> Signature:
    """What says the file changed: (size, mtime in ns, inode); None while it is missing."""
    try:
        st = os.stat(path)  # follows the symlinks a ConfigMap mount is made of
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


async def watch_rules(holder: RulesHolder, every: float, sleep: Sleep = asyncio.sleep) -> None:
    """Forever (until cancelled): every `every` seconds, reload the rules if the file changed."""
    seen = signature(holder.path)
    while True:
        await sleep(every)
        now = signature(holder.path)
        if now == seen:
            continue
        if now is None:
            log.warning("rules.file_missing", file=str(holder.path), detail="old rules stay")
        else:
            log.info("rules.file_changed", file=str(holder.path))
            try:
                holder.reload()
            except Exception:  # a bug must not end the watching: the next change still counts
                log.exception("rules.reload_crashed", file=str(holder.path))
        seen = now
