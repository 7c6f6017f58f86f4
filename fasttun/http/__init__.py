"""HTTP mode: services by name on one shared port (the server's HTTP front).

``_heads`` (request and response heads, with h11), ``_names`` (who holds
which name), ``_ratelimit``, ``_pages`` and ``_accesslog`` are sans-I/O and
tested alone; ``front`` is the asyncio part, the server's HTTP and HTTPS
ports.  The mux core knows nothing of HTTP: a visitor connection is one
stream, as a public TCP connection is.
"""

__all__: list[str] = []
