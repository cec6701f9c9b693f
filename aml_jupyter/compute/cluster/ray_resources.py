"""What a run asks of a Ray cluster beside what the cluster has (its dashboard's report).

Used on the submitting side, without Ray: whether a single-process run fits what is free now
(:func:`fits_now`: then its job asks for its share itself and starts at once; else its driver
waits in a placement group, see :mod:`.ray_driver`), and why a job still waits
(:func:`waiting_note`). The report (``/api/cluster_status``) is the autoscaler's, refreshed
every few seconds: a fit is a good guess, not a promise.
"""

from __future__ import annotations

from typing import Any

#: Seconds a job that fits may take to start before the driver log says it still waits.
SLOW_START_S = 15.0
_UNITS = {"CPU": "CPU", "GPU": "GPU"}


def _amount(value: float, unit: str) -> str:
    number = f"{value:g}"
    return f"{number} {unit}" + ("" if value == 1 else "s")


def _unit(resource: str) -> str:
    return _UNITS.get(resource, f"unit of {resource!r}")


def asked_text(asks: dict[str, float]) -> str:
    """``8 CPUs and 1 GPU``: what a job asks for, in words ("" for nothing)."""
    return " and ".join(_amount(v, _unit(k)) for k, v in asks.items() if v)


def dashboard_key(resource: str) -> str:
    """A resource's name as Ray's dashboard reports it: its JSON camel-cases every key
    (``fake_gpu`` is ``fakeGpu`` in ``/api/cluster_status``)."""
    first, *rest = resource.split("_")
    return first + "".join(part.title() for part in rest)


def fits_now(asks: dict[str, float], cluster: dict[str, Any]) -> bool:
    """Whether the cluster's report shows a node with ``asks`` free now and no other request
    already waiting (``cluster``: :meth:`RayJobs.resources`). A report without nodes (an old
    Ray, no autoscaler data) fits: the job then asks Ray itself, as it always did."""
    if not cluster.get("free_by_node"):
        return True
    if cluster.get("waiting"):
        return False  # others are queued already: this one would queue behind them
    wanted = {dashboard_key(k): v for k, v in asks.items() if v}
    return any(
        all(free.get(key, 0.0) >= value for key, value in wanted.items())
        for free in cluster["free_by_node"]
    )


def waiting_note(asks: dict[str, float], cluster: dict[str, Any], waited: float) -> str | None:
    """Why a job waits: ``[aml] Waiting for Ray: the job asks for 8 CPUs; the cluster has
    2 CPUs in all (2 free)...`` (``cluster``: :meth:`RayJobs.resources`). None while it
    fits what is free and has waited less than :data:`SLOW_START_S` (Ray is starting it)."""
    total, used, nodes = cluster["total"], cluster["used"], cluster["nodes"]
    asked, has, short, busy = [], [], [], False
    for name, value in asks.items():
        if not value:
            continue
        unit = _unit(name)
        asked.append(_amount(value, unit))
        key = dashboard_key(name)
        free = total.get(key, 0.0) - used.get(key, 0.0)
        busy = busy or free < value
        has.append(f"{_amount(total.get(key, 0.0), unit)} in all ({free:g} free)")
        biggest = max((float(n.get(key, 0.0)) for n in nodes), default=0.0)
        if nodes and biggest < value:
            short.append(f"no node has {_amount(value, unit)} (the largest has {biggest:g})")
    if not (short or busy) and waited < SLOW_START_S:
        return None
    if not asked or not total:
        return "[aml] Waiting for Ray to start the job (its runtime environment, or resources).\n"
    note = f"[aml] Waiting for Ray: the job asks for {' and '.join(asked)}"
    note += f"; the cluster has {' and '.join(has)} on {len(nodes)} node(s)."
    if short:
        note += (
            f" N{'; '.join(short)[1:]}: it starts only if such a node joins (an "
            "autoscaler may add one), else Ray gives up after its start timeout "
            "(RAY_JOB_START_TIMEOUT_SECONDS on the head, 900 s by default)."
        )
    elif busy:
        note += " It starts when that much is free on one node."
    else:
        note += " Ray is still setting the job up (its runtime environment: pip packages?)."
    return note + "\n"
