"""Counting the DynamoDB calls a health store makes."""

from __future__ import annotations

from collections import Counter


class CallCounter(Counter[str]):
    """An `on_call` hook for `DynamoHealthStore`: counts calls by operation name.

    >>> calls = CallCounter()
    >>> calls("UpdateItem"); calls("UpdateItem"); calls("BatchGetItem")
    >>> calls.total(), calls["UpdateItem"]
    (3, 2)
    """

    def __call__(self, operation: str) -> None:
        self[operation] += 1
