"""Generated Python code of the ``negotiation.v1`` protobuf schema (``protos/negotiation/v1``).

Checked in; regenerate with ``python -m negotiation.regenerate`` after editing a ``.proto`` file
(``tests/test_protos.py`` fails while the generated code is stale).
"""
