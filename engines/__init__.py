"""Pure numerical engines of ptn: road traffic assignment and (later) power flow.

Nothing here imports grpc or ray: operators wrap these engines behind thin adapters.
"""
