"""What a run was made from: its code snapshot (taken at submit, restored on demand) and
its environment (methods of :class:`aml_jupyter.Run`, v1's ``get_snapshot_id``,
``restore_snapshot``, ``get_environment``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import AmlError

if TYPE_CHECKING:
    from ..store.types import RunRecord
    from .workspace import Workspace


class RunSnapshot:
    """``get_snapshot_id``, ``restore_snapshot``, ``get_environment``."""

    _ws: Workspace
    _id: str
    _record: RunRecord

    if TYPE_CHECKING:

        def _row(self) -> RunRecord: ...

    def get_environment(self) -> Any:
        """The :class:`Environment` the run used (None: the submitting interpreter)."""
        from ..environments.environment import Environment

        spec = self._record.definition.get("environment")
        return Environment._from_spec(spec) if isinstance(spec, dict) else None

    def get_snapshot_id(self) -> str | None:
        """The id of the code snapshot taken at submit (None if none was taken)."""
        return self._record.snapshot_id or self._row().snapshot_id

    def restore_snapshot(
        self, snapshot_id: str | None = None, path: str | os.PathLike[str] | None = None
    ) -> str:
        """Write the run's code snapshot (or ``snapshot_id``'s) into ``path`` (default
        ``./<run id>-snapshot``). The parameters are in v1's order: snapshot id first."""
        from ..snapshot.snapshot import restore_snapshot
        from ..store.blobs import check_sha256

        if snapshot_id is not None:
            try:
                check_sha256(snapshot_id)
            except AmlError:
                raise AmlError(
                    f"restore_snapshot(snapshot_id=None, path=None) takes the snapshot id first, "
                    f"as in v1; {os.fspath(snapshot_id)!r} is not a snapshot id. To restore into "
                    f"a folder, pass path={os.fspath(snapshot_id)!r}."
                ) from None
        sid = snapshot_id or self.get_snapshot_id()
        if not sid:
            raise AmlError(f"Run {self._id} has no code snapshot.")
        return str(restore_snapshot(self._ws.blobs, sid, path or f"{self._id}-snapshot"))
