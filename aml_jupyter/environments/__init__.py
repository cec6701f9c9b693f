"""Environment specs (pip, conda, docker) and the builders that turn them into a Python."""
