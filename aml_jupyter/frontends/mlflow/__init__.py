"""MLflow into our runs: ``mlflow.log_*`` and ``mlflow.autolog()`` land in aml_jupyter runs.

Azure ML v1 did this at the protocol level: every run had ``MLFLOW_TRACKING_URI`` and
``MLFLOW_RUN_ID`` set, so ``mlflow.start_run()`` in a script attached to the Azure ML run. We do
the same (``script_environment`` in :mod:`aml_jupyter.compute.local.supervisor`, which the
agent and the Ray targets use too), with an ``aml`` scheme served by two MLflow plugins,
registered as entry points (``pyproject.toml``):

* ``mlflow.tracking_store`` → :class:`~.store.AmlTrackingStore`: experiments, runs, params,
  metrics, tags, nested runs, logged models, over :class:`aml_jupyter.Workspace` and
  :class:`aml_jupyter.Run` (only ``store/`` knows how they are kept).
* ``mlflow.artifact_repository`` → :class:`~.artifacts.AmlArtifactRepository`: artifacts are
  the run's files under ``outputs/`` (``mlflow.log_artifact("a.txt")`` → ``outputs/a.txt``;
  ``mlflow.sklearn.log_model(m, name="model")`` → ``outputs/model/`` that
  ``run.register_model(name, model_path="outputs/model")`` registers).

Addresses: ``aml:///abs/path/.aml`` (what ``Workspace.get_mlflow_tracking_uri()`` returns),
``aml://relative/folder`` and ``aml:`` alone (the workspace ``Workspace.from_config()`` finds).

Why a plugin and not an HTTP server (the other way: MLflow's REST protocol served by the
Jupyter server extension). A plugin needs no server running for a local run, no port and no
token, and calls the same Python API ``Run.get_context()`` uses, in-process: a metric costs a
file append instead of an HTTP round trip (``benchmarks/bench_mlflow_logging.py``). And it
works the same on every target: a run on a compute-instance agent or a Ray node gets
``MLFLOW_TRACKING_URI=aml://<that node's workspace>``, so the plugin writes into the run's
folder on that node exactly as ``Run.get_context()`` does there (metric files, tags, live
``./outputs``), and what already brings those back (the agent's mirror, the Ray driver)
brings MLflow's data back with them: no route from the node to the notebook is needed. The
cost: the run's interpreter needs ``mlflow`` installed (as v1 needed ``azureml-mlflow``);
runs find the plugins through ``aml_jupyter/_mlflow_plugin`` on their ``PYTHONPATH`` (package
metadata only), since they import aml_jupyter from ``PYTHONPATH`` rather than an install.

Status: a run that a target started is owned by its target, so MLflow's ``end_run()``
(FINISHED) is informational there; runs that MLflow created (``mlflow.start_run()`` in a
notebook, ``start_run(nested=True)`` children) end when MLflow ends them, or Failed if their
process dies.
"""
