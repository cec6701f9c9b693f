"""Data: datastores (where bytes live) and versioned datasets (named references to them)."""
