"""Storage backends behind the :class:`~pys3local.providers.base.StorageProvider` interface."""
