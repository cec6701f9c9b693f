"""The owner process of a compute-instance run: the mirror of :mod:`aml_jupyter.compute.remote`
with the agent client already imported.

The submit starts it before the snapshot and the upload; importing the HTTP client here (~25 ms:
``http.client``, which brings ``ssl`` and ``email.parser``), before the mirror waits for its run
id, overlaps that cost with the upload instead of adding it after.
"""

from __future__ import annotations

import sys

from .. import remote
from . import client  # noqa: F401  (imported for its start-up cost, see above)

if __name__ == "__main__":
    sys.exit(remote.main())
