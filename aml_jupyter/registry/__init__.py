"""The model registry and deployment of a model as a local scoring service."""
