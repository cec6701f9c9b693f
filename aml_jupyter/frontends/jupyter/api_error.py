"""The one error type of the REST API: an :class:`AmlError` with the HTTP status it answers with."""

from __future__ import annotations

from ...errors import AmlError


class ApiError(AmlError):
    """An error with the HTTP status it answers with (a kind of :class:`AmlError`)."""

    def __init__(self, status: int, message: str, reason: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.fix = fix
