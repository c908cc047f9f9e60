"""A faithful fake of the Drime Cloud API, for tests, the console and benchmarks.

    with FakeDrime(page_size_cap=5) as fake:
        provider = create_drime_provider(fake.api_key, 0, api_url=fake.api_url, ...)
        fake.fault("status", status=429, retry_after="1", path="/drive/file-entries")

See :mod:`.state` for the modelled behaviours and :mod:`.faults` for fault injection.
"""

from __future__ import annotations

from .faults import Fault, RequestRecord
from .server import FakeDrime
from .state import Drive, Entry, entry_hash

__all__ = ["Drive", "Entry", "FakeDrime", "Fault", "RequestRecord", "entry_hash"]
