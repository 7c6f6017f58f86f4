"""Wire constants of the fasttun protocol (docs/spec.md).

Plain ints, so that Cython can type them when ``mux_py.py`` is compiled as
``mux_c`` and so that both implementations share one table.
"""

# docs/spec.md §2 "Preamble": 7 magic bytes then one version byte.
MAGIC = b"FASTTUN"
PROTOCOL_VERSION = 1
PREAMBLE = MAGIC + bytes([PROTOCOL_VERSION])
PREAMBLE_SIZE = 8

# docs/spec.md §3 "Frame header": type u8, flags u8, reserved u16,
# stream id u32, payload length u32; big-endian.
HEADER_SIZE = 12

# docs/spec.md §4 "Frame types".
FRAME_DATA = 0
FRAME_WINDOW_UPDATE = 1
FRAME_OPEN = 2
FRAME_RESET = 3
FRAME_PING = 4
FRAME_GO_AWAY = 5
FRAME_CONTROL = 6
FRAME_TYPE_MAX = 6

FRAME_NAMES = {
    FRAME_DATA: "DATA",
    FRAME_WINDOW_UPDATE: "WINDOW_UPDATE",
    FRAME_OPEN: "OPEN",
    FRAME_RESET: "RESET",
    FRAME_PING: "PING",
    FRAME_GO_AWAY: "GO_AWAY",
    FRAME_CONTROL: "CONTROL",
}

# docs/spec.md §5 "Flags".
FLAG_FIN = 0x01  # DATA: the sender will send no more data on this stream
FLAG_ACK = 0x02  # PING: this is the answer to a ping; WINDOW_UPDATE: stream accepted
FLAG_BLOCKED = 0x04  # DATA: this frame used up the sender's window

# docs/spec.md §6 "Limits": sizes.
DEFAULT_MAX_FRAME = 262144  # largest payload a peer may send (256 KiB)
MAX_FRAME_LIMIT = 1 << 24  # no configuration may exceed this
INITIAL_WINDOW = 262144  # per-stream credit at open, each direction
MAX_WINDOW = (1 << 31) - 1
SESSION_WINDOW = 16 << 20  # credit of all streams together, each direction
MAX_STREAM_WINDOW = 16 << 20  # a stream's receive window grows up to this
RECEIVE_BUDGET = 32 << 20  # sum of the receive windows of all streams of a session
MIN_WINDOW = 16384  # a stream's window is never shrunk below this
# Payloads up to this size are handed out as bytes copies, larger ones as
# memoryview slices of the receive buffer: a small copy costs less than a
# view, and it never pins a receive buffer in a socket's write queue.
COPY_MAX = 4096

# docs/spec.md §7 "Go-away codes".
GO_AWAY_NORMAL = 0
GO_AWAY_PROTOCOL_ERROR = 1
GO_AWAY_INTERNAL_ERROR = 2
GO_AWAY_AUTH_FAILED = 3
GO_AWAY_UNSUPPORTED_VERSION = 4
GO_AWAY_HEARTBEAT_TIMEOUT = 5
GO_AWAY_SHUTDOWN = 6
GO_AWAY_LIMIT = 7
GO_AWAY_REFUSED = 8

GO_AWAY_NAMES = {
    GO_AWAY_NORMAL: "normal",
    GO_AWAY_PROTOCOL_ERROR: "protocol error",
    GO_AWAY_INTERNAL_ERROR: "internal error",
    GO_AWAY_AUTH_FAILED: "authentication failed",
    GO_AWAY_UNSUPPORTED_VERSION: "unsupported protocol version",
    GO_AWAY_HEARTBEAT_TIMEOUT: "heartbeat timeout",
    GO_AWAY_SHUTDOWN: "server shutting down",
    GO_AWAY_LIMIT: "limit reached",
    GO_AWAY_REFUSED: "refused by the server's policy",
}

# docs/spec.md §8 "Reset codes".
RESET_CANCEL = 0  # the public user or the local service went away
RESET_REFUSED = 1  # the local service refused the connection
RESET_PROTOCOL_ERROR = 2
RESET_UNKNOWN_TUNNEL = 3  # OPEN named a tunnel the client does not have
RESET_LIMIT = 4  # too many streams

# Events produced by Session.events_received(): (kind, stream_id, a, b).
EV_CONTROL = 1  # a: bytes payload
EV_OPEN = 2  # a: tunnel id, b: bytes info
EV_DATA = 3  # a: payload, a memoryview of the receive buffer (bytes when at most COPY_MAX)
EV_FIN = 4
EV_RESET = 5  # a: reset code
EV_WINDOW = 6  # a: new send window
EV_GO_AWAY = 7  # a: code, b: str message
EV_TIMEOUT = 8  # the peer went silent for longer than the timeout
EV_ACCEPT = 9  # the peer reached the service behind a stream we opened
