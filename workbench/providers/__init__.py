"""Provides model calls: the litellm client (retries, concurrency, cache), the model registry, the
bundled custom providers (``echo`` and the offline ``local/*`` models) and the tuned models they serve
(``tuned``: the registry under ``.workbench/models/``; ``generate``: a tuned local model's answers)."""
