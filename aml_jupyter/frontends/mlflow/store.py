"""The ``aml`` MLflow tracking store: MLflow's client calls, answered by our Python API.

MLflow builds one per tracking URI and process (``aml:///path/.aml``, see
:mod:`.address`) and calls it in-process; every write goes through :class:`aml_jupyter.Run`
(metrics into the run's metric files, params and tags into its record), so it lands exactly
where ``Run.get_context()`` would put it, on whatever machine the run runs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

from mlflow.entities import (
    LoggedModel,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    RunInfo,
    RunOutputs,
    RunStatus,
    ViewType,
)
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT
from mlflow.store.tracking.abstract_store import AbstractStore
from mlflow.utils.search_utils import (
    SearchExperimentsUtils,
    SearchLoggedModelsUtils,
    SearchUtils,
)

from ...errors import AmlError
from ...status import RunStatus as AmlStatus
from ...tracking.experiment import Experiment, check_experiment_name
from ...tracking.run import Run
from . import logged_models
from .address import AmlMlflowError, not_found, workspace_of
from .entities import (
    DEFAULT_EXPERIMENT,
    PARAM_PREFIX,
    PARENT_TAG,
    RUN_NAME_TAG,
    USER_TAG,
    experiment_entity,
    experiment_id,
    experiment_name,
    run_entity,
)

#: MLflow's run description, kept as the run's description (v1's ``run.description``).
NOTE_TAG = "mlflow.note.content"
#: Tags that are not kept as tags: they are the record's own fields.
_FIELD_TAGS = {RUN_NAME_TAG, PARENT_TAG, NOTE_TAG}


def _unsupported(what: str, instead: str) -> AmlMlflowError:
    return AmlMlflowError(f"aml: {what} is not supported by aml_jupyter's MLflow store; {instead}")


class AmlTrackingStore(AbstractStore):
    """An aml_jupyter workspace seen as an MLflow tracking store."""

    def __init__(self, store_uri: str | None = None, artifact_uri: str | None = None) -> None:
        super().__init__()
        self._ws = workspace_of(store_uri or "aml:")
        self._runs: dict[str, Run] = {}
        #: Runs MLflow created through this store: their end is MLflow's to say.
        self._created: set[str] = set()
        self._lock = threading.Lock()

    # runs as objects ------------------------------------------------------------------------
    def _run(self, run_id: str) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            try:
                record = self._ws.store.get_run(run_id)
            except AmlError:
                raise not_found(
                    f"No run {run_id!r} in workspace {self._ws.folder} (aml: MLflow store)."
                ) from None
            run = self._runs[run_id] = Run(Experiment(self._ws, record.experiment, False), run_id)
        return run

    def _entity(self, run_id: str) -> Any:
        self._run(run_id)  # a clear error for an unknown id
        store = self._ws.store
        record = store.get_run(run_id)
        tags = store.get_tags(run_id)
        models = [
            LoggedModelOutput(key[len(logged_models.TAG_PREFIX) :], 0)
            for key in tags
            if key.startswith(logged_models.TAG_PREFIX)
        ]
        return run_entity(self._ws, record, tags, store.get_properties(run_id), RunOutputs(models))

    # experiments ----------------------------------------------------------------------------
    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Any]:
        found = []
        if view_type != ViewType.DELETED_ONLY:
            found = [experiment_entity(self._ws, r) for r in self._ws.store.experiment_summaries()]
        found = SearchExperimentsUtils.filter(found, filter_string)
        found = SearchExperimentsUtils.sort(found, order_by or ["creation_time DESC"])
        page, token = SearchUtils.paginate(found, page_token, max_results)
        return PagedList(page, token)

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Any = None
    ) -> str:
        try:
            check_experiment_name(name)
        except AmlError as exc:
            raise AmlMlflowError(str(exc)) from None
        if name in self._ws.store.experiment_names():
            raise AmlMlflowError(
                f"Experiment {name!r} already exists.", error_code=RESOURCE_ALREADY_EXISTS
            )
        self._ws.store.ensure_experiment(name)
        return experiment_id(name)

    def get_experiment(self, experiment_id: str) -> Any:
        name = experiment_name(experiment_id)
        if name == DEFAULT_EXPERIMENT:
            self._ws.store.ensure_experiment(name)  # MLflow's default experiment always exists
        for record in self._ws.store.experiment_summaries():
            if record.name == name:
                return experiment_entity(self._ws, record)
        raise not_found(f"No experiment with id {experiment_id!r} in {self._ws.folder}.")

    def get_experiment_by_name(self, experiment_name: str) -> Any:
        if experiment_name == DEFAULT_EXPERIMENT:
            return self.get_experiment(experiment_id(DEFAULT_EXPERIMENT))
        for record in self._ws.store.experiment_summaries():
            if record.name == experiment_name:
                return experiment_entity(self._ws, record)
        return None

    def delete_experiment(self, experiment_id: str) -> None:
        raise _unsupported("deleting an experiment", "keep it, or remove its runs with `aml run`.")

    def restore_experiment(self, experiment_id: str) -> None:
        raise _unsupported("restoring an experiment", "experiments are never deleted here.")

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        raise _unsupported("renaming an experiment", "experiment names are run ids' prefixes.")

    def set_experiment_tag(self, experiment_id: str, tag: Any) -> None:
        raise _unsupported("an experiment tag", "tag the runs (mlflow.set_tag).")

    # runs -----------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> Any:
        return self._entity(run_id)

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Iterable[Any] | None,
        run_name: str | None,
    ) -> Any:
        given = {t.key: t.value for t in tags or []}
        name = run_name or given.get(RUN_NAME_TAG) or None
        parent = given.get(PARENT_TAG)
        try:
            if parent:
                run = self._run(parent).child_run(name=name)
            else:
                experiment = Experiment(self._ws, experiment_name(experiment_id))
                run = experiment.start_logging(
                    display_name=name, snapshot_directory=None, outputs=None
                )
        except AmlMlflowError:
            raise
        except AmlError as exc:
            raise AmlMlflowError(str(exc)) from None
        with self._lock:
            self._runs[run.id] = run
            self._created.add(run.id)
        if user_id:
            given.setdefault(USER_TAG, user_id)
        self._set_tags(run, given)
        return self._entity(run.id)

    def update_run_info(
        self, run_id: str, run_status: Any, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        run = self._run(run_id)
        if run_name:
            run.display_name = run_name
        status = RunStatus.from_string(run_status) if isinstance(run_status, str) else run_status
        # A run a target started ends when its script ends: MLflow's word is informational.
        if run_id in self._created and run.get_status() not in AmlStatus.TERMINAL:
            if status == RunStatus.FINISHED:
                run.complete()
            elif status == RunStatus.FAILED:
                run.fail("MLflow ended the run FAILED.", error_code="UserError")
            elif status == RunStatus.KILLED:
                run.cancel()
        return self._entity(run_id).info

    def delete_run(self, run_id: str) -> None:
        raise _unsupported("deleting a run", "use `aml run delete` (it cannot be undone).")

    def restore_run(self, run_id: str) -> None:
        raise _unsupported("restoring a run", "runs here are never soft-deleted.")

    def _search_runs(
        self,
        experiment_ids: list[str],
        filter_string: str | None,
        run_view_type: int,
        max_results: int,
        order_by: list[str] | None,
        page_token: str | None,
    ) -> tuple[list[Any], str | None]:
        runs = []
        if run_view_type != ViewType.DELETED_ONLY:
            for eid in experiment_ids:
                for record in self._ws.store.list_runs(
                    experiment=experiment_name(eid), include_children=True
                ):
                    runs.append(self._entity(record.id))
        runs = SearchUtils.filter(runs, filter_string)
        runs = SearchUtils.sort(runs, order_by)
        return SearchUtils.paginate(runs, page_token, max_results)

    # what a run records ---------------------------------------------------------------------
    def log_metric(self, run_id: str, metric: Metric) -> None:
        self._run(run_id).log(
            metric.key, metric.value, step=metric.step, timestamp=metric.timestamp / 1000
        )

    def log_param(self, run_id: str, param: Any) -> None:
        self.log_batch(run_id, [], [param], [])

    def set_tag(self, run_id: str, tag: Any) -> None:
        self._set_tags(self._run(run_id), {tag.key: tag.value})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._run(run_id).remove_tags([key])

    def _set_tags(self, run: Run, tags: dict[str, Any]) -> None:
        if tags.get(RUN_NAME_TAG):
            run.display_name = str(tags[RUN_NAME_TAG])
        if NOTE_TAG in tags:
            run.description = str(tags[NOTE_TAG])
        kept = {k: v for k, v in tags.items() if k not in _FIELD_TAGS}
        if kept:
            run.set_tags(kept)

    def log_batch(
        self, run_id: str, metrics: list[Any], params: list[Any], tags: list[Any]
    ) -> None:
        run = self._run(run_id)
        if params:
            values = {p.key: str(p.value) for p in params}
            try:  # first: a changed param refuses the whole batch, nothing written
                run._ws.store.add_properties(
                    run_id, {PARAM_PREFIX + k: v for k, v in values.items()}
                )
            except AmlError as exc:
                raise AmlMlflowError(
                    f"Changing param values is not allowed (MLflow params are immutable): {exc}"
                ) from None
        for m in metrics:
            if getattr(m, "model_id", None) and self._logged_already(run_id, m):
                continue  # log_model links a run's metrics to the model by logging them again
            run.log(m.key, m.value, step=m.step, timestamp=m.timestamp / 1000)
        given = {t.key: t.value for t in tags}
        if params:
            given = {**values, **given}  # params are tags too, as in v1
        if given:
            self._set_tags(run, given)

    def _logged_already(self, run_id: str, metric: Metric) -> bool:
        return any(
            p["step"] == metric.step and round(p["time"] * 1000) == metric.timestamp
            for p in self._ws.store.metric_history(run_id, metric.key)
        )

    def get_metric_history(
        self,
        run_id: str,
        metric_key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        self._run(run_id)
        points = [
            Metric(metric_key, float(p["value"]), round(p["time"] * 1000), p["step"] or 0)
            for p in self._ws.store.metric_history(run_id, metric_key)
            if type(p["value"]) in (int, float, bool)
        ]
        if max_results is None:
            return PagedList(points, None)
        page, token = SearchUtils.paginate(points, page_token, max_results)
        return PagedList(page, token)

    def log_inputs(self, run_id: str, datasets: Any = None, models: Any = None) -> None:
        """Datasets are kept as one tag (``mlflow.datasets``: name, digest, source)."""
        if not datasets:
            return
        run = self._run(run_id)
        known = json.loads(run.get_tags().get("mlflow.datasets") or "[]")
        for item in datasets:
            ds = item.dataset
            entry = {"name": ds.name, "digest": ds.digest, "source_type": ds.source_type}
            entry["context"] = {t.key: t.value for t in item.tags}.get("mlflow.data.context")
            if entry not in known:
                known.append(entry)
        run.set_tags({"mlflow.datasets": json.dumps(known)})

    def log_outputs(self, run_id: str, models: list[LoggedModelOutput]) -> None:
        """Nothing to keep: a model logged by a run is recorded on that run already."""
        self._run(run_id)

    def record_logged_model(self, run_id: str, mlflow_model: Any) -> None:
        """MLflow 2's model history tag, ``mlflow.log-model.history``."""
        run = self._run(run_id)
        history = json.loads(run.get_tags().get("mlflow.log-model.history") or "[]")
        history.append(mlflow_model.get_tags_dict())
        run.set_tags({"mlflow.log-model.history": json.dumps(history)})

    # logged models (MLflow 3) -----------------------------------------------------------------
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: list[Any] | None = None,
        params: list[Any] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        if source_run_id:
            self._run(source_run_id)
        given = {t.key: t.value for t in tags or []}
        return logged_models.create(self._ws, source_run_id, name, given, model_type)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        return logged_models.get(self._ws, model_id)

    def search_logged_models(
        self,
        experiment_ids: list[str],
        filter_string: str | None = None,
        datasets: list[dict[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: list[dict[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        names = [experiment_name(e) for e in experiment_ids]
        found = logged_models.in_experiments(self._ws, names)
        found = SearchLoggedModelsUtils.filter_logged_models(found, filter_string, datasets)
        found = SearchLoggedModelsUtils.sort(found, order_by)
        page, token = SearchLoggedModelsUtils.paginate(found, page_token, max_results or 100)
        return PagedList(page, token)

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        return logged_models.update(self._ws, model_id, status=status)

    def set_logged_model_tags(self, model_id: str, tags: list[Any]) -> None:
        logged_models.update(self._ws, model_id, tags={t.key: t.value for t in tags})

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        logged_models.update(self._ws, model_id, remove_tag=key)

    def link_traces_to_run(self, trace_ids: list[str], run_id: str) -> None:
        raise _unsupported("MLflow tracing", "log metrics, params and artifacts instead.")
