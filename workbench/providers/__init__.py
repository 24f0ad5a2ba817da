"""Provides model calls: the litellm client (retries, concurrency, cache), the model registry and the
bundled custom providers (``echo`` and the offline ``local/*`` models)."""
