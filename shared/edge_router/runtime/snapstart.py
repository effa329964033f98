"""Lambda SnapStart for the buffered handlers (SPEC §14): what must not be shared by every
container restored from one snapshot, renewed after each restore.

With SnapStart, Lambda runs the init (the handler module's import and build) once per version,
snapshots the memory, and starts every new container from that snapshot. Anything drawn or
opened at init is then identical, or stale, in all of them:
- the jitter RNG (`RouterService.rng`, full-jitter backoff): a `random.Random()` seeded at init
  would give every restored container the same sequence — the synchronised retries jitter
  exists to prevent. After a restore it is re-seeded from `os.urandom`;
- pooled upstream connections (the aiohttp session and its DNS cache): dropped after a restore,
  so the next request opens its own (none exist at init, since no request runs before the
  snapshot; the hook makes sure). The DynamoDB client makes no call at init, so its pool is
  empty in the snapshot;
- secrets: under a SnapStart init (`AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`) the upstream
  keys from Secrets Manager are not read at init (they would be written into the snapshot); they
  are read after the restore, and a missing one fails the restore as it would fail a start.
Before the snapshot, the FastAPI routes the cold-start app defers (`api.lazy`) are built, so a
restored container has them at no cost.

The hooks are registered with `snapshot_restore_py`, the library Lambda's Python runtimes ship
(`register_before_snapshot` / `register_after_restore`); where it is missing (`serve`, a
runtime without it) nothing is registered. The web adapter mode (`stream`) runs the app as its
own process behind the adapter's extension, which no hook reaches: SnapStart stays off there.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

#: Set by Lambda during init: `on-demand`, `provisioned-concurrency` or `snap-start`.
INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
SNAP_START = "snap-start"

Hook = Callable[[], object]


def snapshot_init(environ: Mapping[str, str]) -> bool:
    """True when this init will be snapshotted (secrets are then read after restore)."""
    return environ.get(INITIALIZATION_TYPE) == SNAP_START


def reseed(rng: random.Random) -> None:
    """Give `rng` fresh entropy from the OS (each restored container its own sequence)."""
    rng.seed(int.from_bytes(os.urandom(32), "big"))


def _registry() -> Any:
    try:
        import snapshot_restore_py
    except ImportError:  # not on a Lambda Python runtime: no snapshot will be taken
        return None
    return snapshot_restore_py


def register(*, before_snapshot: list[Hook], after_restore: list[Hook]) -> bool:
    """Register the hooks with the runtime's `snapshot_restore_py`; False when it is absent.
    After-restore hooks run in the order given."""
    library = _registry()
    if library is None:
        return False
    for hook in before_snapshot:
        library.register_before_snapshot(hook)
    for hook in after_restore:
        library.register_after_restore(hook)
    return True
