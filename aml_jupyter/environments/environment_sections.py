"""The sections of an ``Environment`` a user sets, by v1's names: ``env.python`` (packages,
or an interpreter managed by hand) and ``env.docker`` (a container, and its image)."""

from __future__ import annotations

from typing import Any

from .conda_dependencies import CondaDependencies


class PythonSection:
    """``env.python``: packages, or an interpreter you manage yourself."""

    def __init__(self) -> None:
        self.user_managed_dependencies = False
        self.interpreter_path = "python"
        self.conda_dependencies = CondaDependencies()


class DockerSection:
    """``env.docker``: whether the run executes in a container, and from which image.

    ``base_image`` None: ``$AML_DOCKER_BASE_IMAGE``, else ``aml-jupyter/python:3.11`` (built
    locally by ``make docker``). The run's image adds the environment's pip packages to it.
    """

    def __init__(self) -> None:
        self.enabled = False
        self.base_image: str | None = None
        #: A Dockerfile's text: built into the base image (``Environment.from_dockerfile``).
        self.base_dockerfile: str | None = None
        #: v1 fields kept as read (shm_size, arguments, platform, ...), written back on save.
        self._kept: dict[str, Any] = {}
