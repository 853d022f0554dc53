"""``ptn.protocol``: the generated Python code of the ``negotiation.v1`` protobuf schema.

Checked in; regenerate with ``python protos/regenerate.py`` after editing a ``.proto`` file in
``protos/negotiation/v1`` (``tests/test_protos.py`` fails while the generated code is stale).
"""
