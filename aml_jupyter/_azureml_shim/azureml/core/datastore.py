"""Azure ML v1's ``azureml.core.datastore``: the module exists so v1 imports of it resolve;
``Datastore`` itself comes with datastores and versioned datasets (not yet: importing it says
so by name)."""

__all__: list[str] = []
