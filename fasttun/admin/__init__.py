"""Web APIs beside the tunnel: the server's admin API, metrics and dashboard
(``serverapi``), and the client's agent API and inspector (``agent``).  Each
is an ``App`` (sans-I/O routing and access, ``_app``) served by a small h11
listener (``_server``)."""
