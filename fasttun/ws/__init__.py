"""The WebSocket carrier: the tunnel connection inside a WebSocket, for
networks that let only HTTP(S) out, and for servers behind a reverse proxy
or a CDN (``carrier.py``)."""
