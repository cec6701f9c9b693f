"""The cluster target: runs submitted as Ray jobs."""
