"""What the REST API does for the model registry and the local scoring services: the model
page (versions, deployments) and the sidebar's Services section (logs, delete)."""

from __future__ import annotations

from typing import Any

from ...errors import AmlError
from .api_error import ApiError

#: A service's log lines one request returns by default, and at most.
DEFAULT_LOG_LINES = 500
MAX_LOG_LINES = 20000


class RegistryRoutes:
    """Models and services, for :class:`~.service.WorkspaceService` (which finds the
    workspace: ``_find``)."""

    def _find(self) -> Any:
        raise NotImplementedError

    # models and services --------------------------------------------------------------------
    def models(self, name: str | None = None, latest: bool = False) -> dict[str, Any]:
        from ...registry.model import Model

        found = Model.list(self._find(), name=name, latest=latest)
        return {"models": [m.serialize() for m in found]}

    def model(self, name: str, version: int) -> dict[str, Any]:
        """One version with what its page shows: files, every version of the name (newest
        first), the services that serve it, and the datasets it was trained on (none are
        recorded yet: the Dataset API comes later)."""
        from ...registry.model import Model
        from ...registry.webservice import Webservice

        ws = self._find()
        try:
            model = Model(ws, name, version=version)
        except AmlError as exc:
            raise ApiError(404, str(exc), "no-model") from None
        versions = [
            {"version": m.version, "createdTime": m.created_time.isoformat(), "runId": m.run_id}
            for m in Model.list(ws, name=name)
        ]
        deployments = [
            {"name": s.name, "state": s.state, "scoring_uri": s.scoring_uri}
            for s in Webservice.list(ws)
            if model.id in s.models
        ]
        return {
            **model.serialize(),
            "files": model.get_file_names(),
            "versions": versions,
            "deployments": deployments,
            "datasets": [],
        }

    def services(self) -> dict[str, Any]:
        from ...registry.webservice import Webservice

        found = Webservice.list(self._find())
        return {"services": [{**s.serialize(), "stats": s.get_stats()} for s in found]}

    def _service(self, name: str) -> Any:
        from ...registry.webservice import Webservice

        ws = self._find()
        try:
            return Webservice(ws, name)
        except AmlError as exc:  # the route checked the name: there is no such service
            raise ApiError(404, str(exc), "no-service") from None

    def service_logs(self, name: str, lines: int = DEFAULT_LOG_LINES) -> dict[str, Any]:
        if not 1 <= lines <= MAX_LOG_LINES:
            raise ApiError(400, f"lines must be 1 to {MAX_LOG_LINES}, got {lines}.", "bad-request")
        return {"name": name, "logs": self._service(name).get_logs(lines)}

    def delete_service(self, name: str) -> dict[str, Any]:
        """Stop the service and forget it (``service.delete()``)."""
        self._service(name).delete()
        return {"deleted": name}
