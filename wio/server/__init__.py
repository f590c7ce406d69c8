"""`wio serve`: the HTTP API over a journal and the workflows whose code it is given.

It needs the ``wio[server]`` extra (Litestar and uvicorn); see docs/operations.md.
"""
