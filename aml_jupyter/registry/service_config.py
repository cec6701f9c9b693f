"""What a deployment is told: ``InferenceConfig`` (how to score) and the local deployment
configuration (port, workers), and the request size limit a new service gets."""

from __future__ import annotations

import os
from typing import Any

from ..errors import AmlError

#: The largest request body a service takes, unless ``AML_SERVICE_MAX_BODY_BYTES`` says
#: otherwise when it is deployed (recorded in its spec; a bigger body gets 413).
MAX_BODY_BYTES = 64 * 1024 * 1024
_MAX_BODY_VARIABLE = "AML_SERVICE_MAX_BODY_BYTES"


def max_body_bytes() -> int:
    """The request size limit a new service gets: ``AML_SERVICE_MAX_BODY_BYTES`` or 64 MiB."""
    value = os.environ.get(_MAX_BODY_VARIABLE, "").strip()
    if not value:
        return MAX_BODY_BYTES
    if not value.isdigit() or int(value) < 1:
        raise AmlError(
            f"{_MAX_BODY_VARIABLE} must be a number of bytes >= 1, got {value!r}; "
            "unset it for the default (64 MiB)."
        )
    return int(value)


class InferenceConfig:
    """How to score: an entry script with ``init()`` and ``run(raw_data)`` in a source folder,
    and the environment to run it in (None: this Python). v1's signature."""

    def __init__(
        self,
        entry_script: str | None = None,
        runtime: str | None = None,
        conda_file: str | None = None,
        extra_docker_file_steps: str | None = None,
        source_directory: str | os.PathLike[str] | None = None,
        enable_gpu: bool | None = None,
        description: str | None = None,
        base_image: str | None = None,
        base_image_registry: Any = None,
        cuda_version: str | None = None,
        environment: Any = None,
    ) -> None:
        self.entry_script = entry_script
        self.source_directory = os.fspath(source_directory) if source_directory else None
        self.environment = environment
        self.description = description


class LocalWebserviceDeploymentConfiguration:
    """Where and how wide a local service runs: its port (None: a free one) and workers."""

    def __init__(self, port: int | None = None, workers: int = 1) -> None:
        if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
            raise AmlError(f"port must be a number from 1 to 65535, got {port!r}.")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise AmlError(f"workers must be a whole number >= 1, got {workers!r}.")
        self.port = port
        self.workers = workers


__all__ = ["InferenceConfig", "LocalWebserviceDeploymentConfiguration"]
