"""The one error type raised for invalid input, so every boundary reports the bad item.

Engines validate what they are given and raise :class:`InvalidInputError` with a message that
names the file, line, link, node or field at fault; solver trouble is never raised, it is a
status in the result.
"""

from __future__ import annotations


class InvalidInputError(ValueError):
    """Input that ptn refuses, with a message naming the offending item."""
