"""The error of the HTTP head readers, shared by ``_heads`` and its compiled twin ``_heads_c``."""

__all__ = ["HeadError"]


class HeadError(Exception):
    """A head fasttun refuses: ``status`` is the answer (400, 405, 431, 501, 502)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
