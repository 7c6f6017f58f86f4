"""HTTP mode: services by name on one shared port (the server's HTTP front).

``_heads`` (request and response heads, with h11), ``_names`` (who holds
which name), ``_ratelimit``, ``_pages`` and ``_accesslog`` are sans-I/O and
tested alone; ``front`` is the asyncio part, the server's HTTP and HTTPS
ports, and ``visitor_py`` the per-request path of its visitor connections.
``tap`` records exchanges for the client's inspector.  ``visitor_py``,
``_heads`` and ``tap`` are also compiled (``visitor_c``, ``_heads_c``,
``tap_c``: each the same source with an augmenting ``.pxd``).  The mux
core knows nothing of HTTP: a visitor connection is one stream, as a public
TCP connection is.
"""

__all__: list[str] = []
