"""Run statuses, named exactly as in Azure ML v1."""

from __future__ import annotations


class RunStatus:
    """The string values a run's status takes (``run.get_status()``)."""

    NOT_STARTED = "NotStarted"
    QUEUED = "Queued"
    PREPARING = "Preparing"
    STARTING = "Starting"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    CANCEL_REQUESTED = "CancelRequested"
    CANCELED = "Canceled"
    COMPLETED = "Completed"
    FAILED = "Failed"

    #: A run in one of these states is finished; nothing changes it any more.
    TERMINAL = frozenset({COMPLETED, FAILED, CANCELED})
    #: Everything else: the run is (or may soon be) doing work.
    ACTIVE = frozenset(
        {NOT_STARTED, QUEUED, PREPARING, STARTING, RUNNING, FINALIZING, CANCEL_REQUESTED}
    )

    @classmethod
    def parse(cls, text: str) -> str:
        """The status named ``text`` in any case (``completed`` -> ``Completed``).

        Raises :class:`~aml_jupyter.AmlError` listing the statuses for an unknown name.
        """
        from .errors import AmlError

        known = {s.lower(): s for s in cls.TERMINAL | cls.ACTIVE}
        status = known.get(text.strip().lower())
        if status is None:
            raise AmlError(
                f"{text!r} is not a run status; use one of {', '.join(sorted(known.values()))}."
            )
        return status

    @classmethod
    def is_terminal(cls, status: str) -> bool:
        """True when ``status`` is Completed, Failed or Canceled."""
        return status in cls.TERMINAL
