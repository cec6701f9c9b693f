"""What the REST API does, as plain blocking methods over the Python API.

The handlers only parse requests and call these (off the event loop); every answer is a
JSON-ready dict. Nothing here knows about HTTP except :class:`ApiError`'s status.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from ...errors import AmlError
from ...status import RunStatus
from .api_error import ApiError
from .boardproxy import BoardKeys
from .chartdata import (
    DEFAULT_POINTS,
    MAX_POINTS,
    MIN_POINTS,
    chart_columns,
    indexed_chart_columns,
    no_gc_pauses,
)
from .data_routes import DataRoutes
from .registry_routes import RegistryRoutes

#: The most log bytes one request returns; a client asks again from the new offset.
LOG_CHUNK_BYTES = 1 << 20
#: The most runs one page holds.
MAX_PAGE = 500
#: Offsets are SQLite integers and file positions: below 2**63.
MAX_OFFSET = (1 << 63) - 1
#: List rows carry at most this many characters of a tag value (the run's details, all).
TAG_PREVIEW_CHARS = 256


def _fix_line(root: Path) -> str:
    return f"aml workspace create {root}"


def _check_offset(offset: int, name: str = "offset", low: int = 0) -> None:
    if not low <= offset <= MAX_OFFSET:
        raise ApiError(
            400, f"{name} must be {low} or more and below 2**63, got {offset}.", "bad-request"
        )


def _list_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a list with long tag values cut, so a page stays small whatever the tags;
    ``tags_cut`` names the tags whose value was cut (``GET runs/{id}`` has them whole)."""
    for row in rows:
        tags = row["tags"]
        cut = [k for k, v in tags.items() if v is not None and len(v) > TAG_PREVIEW_CHARS]
        for key in cut:
            tags[key] = tags[key][:TAG_PREVIEW_CHARS]
        row["tags_cut"] = cut
    return rows


class WorkspaceService(RegistryRoutes, DataRoutes):
    """The workspace one Jupyter server shows: found lazily, so one created later appears.

    ``workspace`` (the ``AmlJupyter.workspace`` setting) wins over ``$AML_WORKSPACE``, which
    wins over a search from the server's root folder upwards (as ``Workspace.from_config``).
    """

    def __init__(self, root: str | os.PathLike[str], workspace: str | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        self.configured = workspace or None
        #: The TensorBoards started here, by the key of their sandboxed route (boardproxy.py).
        self.board_keys = BoardKeys()

    # the workspace -------------------------------------------------------------------------
    def _find(self) -> Any:
        from ...tracking.workspace import DB_NAME, Workspace, _workspace_folder

        if self.configured:
            # The setting names the workspace itself: no search upwards from it.
            folder: Path | None = _workspace_folder(self.configured)
            if folder is None or not (folder / DB_NAME).exists():
                raise ApiError(
                    404,
                    f"The AmlJupyter.workspace setting names {self.configured}, which holds no "
                    "workspace.",
                    "no-workspace",
                    _fix_line(Path(self.configured)),
                )
        else:
            folder = Workspace.find(None if os.environ.get("AML_WORKSPACE") else self.root)
        if folder is None:
            raise ApiError(
                404,
                f"No AML workspace in {self.root} or its parents yet.",
                "no-workspace",
                f"{_fix_line(self.root)}  (or run %aml_workspace in a notebook)",
            )
        return Workspace(folder)

    def workspace_info(self) -> dict[str, Any]:
        try:
            ws = self._find()
        except ApiError as e:
            return {"workspace": None, "message": str(e), "fix": e.fix}
        return {
            "workspace": {"name": ws.name, "folder": str(ws.folder)},
            "message": None,
            "fix": None,
        }

    def create_workspace(self) -> dict[str, Any]:
        """Make the workspace this server would show (``Workspace.create``) when there is none.

        Where: the ``AmlJupyter.workspace`` setting's folder, else ``$AML_WORKSPACE``, else
        the server's root folder (so the new one is the one found next).
        """
        from ...tracking.workspace import Workspace

        try:
            ws = self._find()
        except ApiError:
            pass
        else:
            raise ApiError(
                409, f"There is a workspace already, in {ws.folder}.", "workspace-exists"
            )
        Workspace.create(self.configured or os.environ.get("AML_WORKSPACE") or self.root)
        return self.workspace_info()

    def experiments(self, view_type: str = "ActiveOnly") -> dict[str, Any]:
        """The experiments with their run counts; archived ones only when ``view_type``
        (v1's: ActiveOnly, the default, ArchivedOnly or All) asks for them."""
        from ...tracking.experiment import archived_filter

        try:
            archived = archived_filter(view_type)
        except AmlError as e:
            raise ApiError(400, str(e), "bad-request") from None
        rows = self._find().store.experiment_summaries()
        return {
            "experiments": [
                {
                    "name": r.name,
                    "run_count": r.run_count,
                    "created_utc": r.created_utc,
                    "last_run_utc": r.last_run_utc,
                    "archived": r.archived,
                }
                for r in rows
                if archived is None or r.archived == archived
            ]
        }

    def compute(self) -> dict[str, Any]:
        targets = self._find().compute_targets.values()
        return {
            "targets": [
                {
                    "name": t.name,
                    "type": t.type,
                    "address": t.config.get("address"),
                    "status": t.get_status(),
                }
                for t in targets
            ]
        }

    # runs ----------------------------------------------------------------------------------
    def runs(
        self,
        *,
        experiment: str | None = None,
        status: list[str] | None = None,
        tags: dict[str, str | None] | None = None,
        text: str | None = None,
        parent: str | None = None,
        sort: str = "created",
        descending: bool = True,
        offset: int = 0,
        limit: int = 50,
    ) -> dict[str, Any]:
        from ...tracking.query import run_page

        if not 1 <= limit <= MAX_PAGE:
            raise ApiError(400, f"limit must be 1 to {MAX_PAGE}, got {limit}.", "bad-request")
        _check_offset(offset)
        # An unknown status is an AmlError that names the known ones.
        statuses = [RunStatus.parse(name) for name in status] if status else None
        page = run_page(
            self._find(),
            experiment,
            status=statuses,
            tags=tags,
            text=text,
            parent_id=parent,
            sort=sort,
            descending=descending,
            offset=offset,
            limit=limit,
            tag_chars=TAG_PREVIEW_CHARS,  # only what the page shows leaves the database
        )
        page["runs"] = _list_rows(page["runs"])
        return page

    def _run(self, run_id: str) -> Any:
        from ...tracking.run import Run

        ws = self._find()
        if run_id not in ws.store.find_run_ids(run_id):
            raise ApiError(404, f"No run {run_id!r} in this workspace.", "no-run")
        return Run.get(ws, run_id)

    def run(self, run_id: str) -> dict[str, Any]:
        from ...tracking.query import last_values, run_page, run_record

        run = self._run(run_id)
        ws = run.workspace
        row = run._current()  # Run.get just read it: again only if still active
        metrics = last_values(ws, row, ws.store.metric_summaries([run.id]).get(run.id))
        details = run.get_details()
        props = details["properties"]
        git = None
        if "azureml.git.commit" in props:
            git = {
                "commit": props.get("azureml.git.commit"),
                "branch": props.get("azureml.git.branch"),
                "dirty": props.get("azureml.git.dirty") == "True",
                "repository": props.get("azureml.git.repository_uri"),
            }
        error = details.get("error", {}).get("error")
        children = run_page(
            ws, parent_id=run.id, limit=MAX_PAGE, descending=False, tag_chars=TAG_PREVIEW_CHARS
        )["runs"]
        children = _list_rows(children)
        return {
            **run_record(row, metrics, details["tags"]),
            "tags_cut": [],
            "description": row.description,
            "arguments": details["runDefinition"].get("arguments", []),
            "properties": props,
            "git": git,
            "error": error,
            "exit_code": row.exit_code,
            "has_tensorboard": self._has_events(run),
            "terminal": row.status in RunStatus.TERMINAL,
            "children": children,
        }

    @staticmethod
    def _has_events(run: Any) -> bool:
        from ...tracking.run_files import has_event_files

        return has_event_files(run.get_file_names())

    def log(self, run_id: str, offset: int | None, tail: int | None) -> dict[str, Any]:
        run = self._run(run_id)
        terminal = run.status in RunStatus.TERMINAL  # read first: no line is missed at the end
        size = run.get_log_size()
        if offset is None:
            if tail is not None:
                _check_offset(tail, "tail", low=1)
            start = run.get_log_tail_offset(tail or LOG_CHUNK_BYTES)
        else:
            _check_offset(offset)
            start = offset
        # Past the end there is nothing to read (and a file cannot seek to any 63-bit offset).
        text, next_offset = (
            ("", start) if start >= size else run.read_log_chunk(start, LOG_CHUNK_BYTES)
        )
        return {
            "text": text,
            "start": start,
            "offset": next_offset,
            "size": size,
            "terminal": terminal and next_offset >= size,
        }

    def metrics(
        self,
        run_id: str,
        cursor: str | None,
        points: int = DEFAULT_POINTS,
        name: str | None = None,
        from_step: int | None = None,
        to_step: int | None = None,
    ) -> dict[str, Any]:
        """Scalars as columns, other values as points (see openapi.yaml).

        Without a cursor (a chart's first view) a scalar series longer than ``points`` comes
        downsampled (``downsampled``, its full ``count``); with ``from_step``/``to_step`` only
        the points whose x (step, or index without one) lies in the range (a zoomed chart),
        downsampled the same way. With a cursor the new points come as they are.
        """
        if not MIN_POINTS <= points <= MAX_POINTS:
            raise ApiError(
                400, f"points must be {MIN_POINTS} to {MAX_POINTS}, got {points}.", "bad-request"
            )
        ranged = from_step is not None or to_step is not None
        if ranged and cursor is not None:
            raise ApiError(
                400, "Ask for a step range without a cursor (a range reads it all).", "bad-request"
            )
        run = self._run(run_id)
        terminal = run.status in RunStatus.TERMINAL
        store = run.workspace.store
        with no_gc_pauses():
            # An ended run's first view or zoom: its index's columns, no line parsed.
            columns = store.metric_columns(run.id, name) if terminal and not cursor else None
            if columns is not None:
                next_cursor = columns.cursor
                scalars, others = indexed_chart_columns(columns, points, from_step, to_step)
            else:
                # The store's plain rows: no dict per point on the way (100,000 cost ~0.3 s).
                rows, next_cursor = store.metric_points(run.id, cursor)
                scalars, others = chart_columns(
                    rows, None if cursor else points, name, from_step, to_step
                )
        return {"scalars": scalars, "others": others, "cursor": next_cursor, "terminal": terminal}

    def files(self, run_id: str) -> dict[str, Any]:
        return {"files": self._run(run_id).get_file_info()}

    def open_file(self, run_id: str, name: str) -> BinaryIO:
        from ...paths import checked_relative_name

        run = self._run(run_id)
        try:
            name = checked_relative_name(name, "file name")
        except AmlError as e:
            raise ApiError(400, str(e), "bad-path") from None
        try:
            return run.open_file(name)
        except AmlError as e:  # the name is clean, so the run just has no such file
            raise ApiError(404, str(e), "no-file") from None

    def cancel(self, run_id: str) -> dict[str, Any]:
        run = self._run(run_id)
        run.cancel()
        return {"status": run.get_status()}

    def edit_tags(self, run_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping) or not set(body) <= {"set", "remove"}:
            raise ApiError(
                400,
                'Send {"set": {"key": "value"}, "remove": ["key"]} (either part may be left out).',
                "bad-request",
            )
        to_set, to_remove = body.get("set") or {}, body.get("remove") or []
        if not isinstance(to_set, Mapping) or any(
            not isinstance(k, str)
            or not k.strip()
            or not isinstance(v, (str, int, float, type(None)))
            for k, v in to_set.items()
        ):
            raise ApiError(400, '"set" must map non-empty tag names to text.', "bad-request")
        if not isinstance(to_remove, list) or not all(isinstance(k, str) for k in to_remove):
            raise ApiError(400, '"remove" must be a list of tag names.', "bad-request")
        run = self._run(run_id)
        if to_set:
            run.set_tags({k.strip(): v for k, v in to_set.items()})
        if to_remove:
            run.remove_tags(to_remove)
        return {"tags": run.get_tags()}

    def tensorboard(self, run_id: str, base_url: str) -> dict[str, Any]:
        from ..tensorboard import Tensorboard

        run = self._run(run_id)
        if not self._has_events(run):
            raise ApiError(
                409,
                f"Run {run.id} has no TensorBoard event files (write them under ./logs).",
                "no-events",
            )
        board = Tensorboard([run])
        board.start()
        # Served sandboxed in an opaque origin, never in Jupyter's (boardproxy.py).
        port = board.port
        assert port is not None  # start() raises when TensorBoard does not answer
        key = self.board_keys.key_for(port)
        return {"url": f"{base_url.rstrip('/')}/aml/tensorboard/{key}/", "port": port}
