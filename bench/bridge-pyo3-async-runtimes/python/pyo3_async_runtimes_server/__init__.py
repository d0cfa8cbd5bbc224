"""A minimal ASGI server whose asyncio bridge is pyo3-async-runtimes: amphicorn's benchmark peer.

``python -m pyo3_async_runtimes_server MODULE:APP --host H --port P``. See ``_server`` (Rust)
for what it does and leaves out.
"""
