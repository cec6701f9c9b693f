"""The ``%aml_*`` IPython magics."""
