"""Per-key limits, budgets and usage (SPEC §13), for keys mode.

    windows.py      pure: window ids and sort keys, `KeyLimits`, the verdict, x-ratelimit-* headers
    store.py        the `LimitsStore` port: conditional admit, read, add, query
    memory.py       the memory store (`serve`'s default; shared by "regions" in tests)
    dynamodb.py     the DynamoDB store: items `pk = "usage#<key id>"` in the health table
    limiter.py      `Limiter`: admit before the upstream call, account after it, flush usage;
                    bounded and failing open like the health store
    build.py        `build_limiter(config, ...)`: what `build_deps` calls in keys mode

Importing this package imports neither boto3 nor the request path.
"""
