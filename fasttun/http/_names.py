"""The names of HTTP tunnels: who holds which host name (sans-I/O).

A name is a host name visitors use, in lower case: ``myapp.DOMAIN`` for a
subdomain of the server's ``--domain``, or any host name a client asked for
with ``--hostname``.  A name is *held* by one tunnel at a time.  When that
tunnel's client goes away, the name stays *reserved* for it for
``reserve`` seconds: visitors meanwhile get 502 (the client is offline), and
only a client presenting the same *claim* (a secret each ``TunnelClient``
draws once and sends with every HTTP bind) can take it back.  So a client
that reconnects gets its names back, and nobody else can take them while it
is away.

Time is passed in (``now``), as in the mux core.
"""

from __future__ import annotations

import hmac
import re
import secrets

__all__ = ["Names", "Name", "NameRefused", "valid_label", "valid_hostname", "random_label"]

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# Random names read as two words and a random tail: "brisk-otter-k3q9x7mz".
# The tail alone (8 characters of 32) is 40 bits: not guessable by a visitor.
_ADJECTIVES = ("amber bold brave brisk calm clever cosmic crisp dapper eager fancy gentle glad golden grand "
               "happy jolly keen lively lucky merry mighty nimble noble plucky proud quick quiet rapid rosy "
               "shiny silent silver smart snug sunny swift tidy vivid warm witty zesty").split()
_NOUNS = ("badger beacon breeze canyon cedar comet coral crane delta falcon fern finch fjord gecko harbor "
          "heron island lagoon lark lemur lynx maple meadow otter owl panda pebble pine quail raven reef "
          "river robin sparrow spruce summit tiger tulip walrus willow").split()
_TAIL = "abcdefghijkmnpqrstuvwxyz23456789"  # 32 characters, none easily confused


def valid_label(text: str) -> bool:
    """True for one DNS label (a subdomain): letters, digits, inner hyphens, 1-63."""
    return bool(_LABEL.match(text))


def valid_hostname(text: str) -> bool:
    """True for a host name: dot-separated labels, at most 253 characters."""
    return 0 < len(text) <= 253 and all(valid_label(part) for part in text.split("."))


def random_label() -> str:
    """A random, readable, unguessable subdomain."""
    tail = "".join(secrets.choice(_TAIL) for _ in range(8))
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{tail}"


class NameRefused(Exception):
    """A name cannot be given to this client; the message says why."""


class Name:
    """One held or reserved name.

    Attributes:
        host: the name, lower case.
        label: the subdomain asked for or drawn ("" for a ``--hostname``).
        holder: the tunnel that holds it, or None while it is reserved.
        claim: the secret of the client it belongs to.
        expires: while reserved, when the reservation ends.
    """

    __slots__ = ("host", "label", "holder", "claim", "expires")

    def __init__(self, host: str, label: str, holder: object, claim: str) -> None:
        self.host = host
        self.label = label
        self.holder = holder
        self.claim = claim
        self.expires = 0.0


class Names:
    """The registry of names.

    Args:
        domain: the zone subdomains live under ("" when the server has none).
        reserve: seconds a name stays reserved after its client went away.
    """

    def __init__(self, domain: str = "", reserve: float = 300.0) -> None:
        self.domain = domain.strip(".").lower()
        self.reserve = reserve
        self._names: dict[str, Name] = {}

    def host_for(self, subdomain: str = "", hostname: str = "") -> str:
        """The host name a bind asks for (subdomain under the domain, or hostname).

        Raises:
            NameRefused: the name is not a valid host name, or a subdomain was
                asked of a server without a domain.
        """
        if hostname:
            host = hostname.strip().rstrip(".").lower()
            if not valid_hostname(host):
                raise NameRefused(f"{hostname!r} is not a valid host name")
            return host
        label = subdomain.strip().lower()
        if not valid_label(label):
            raise NameRefused(f"{subdomain!r} is not a valid subdomain (letters, digits and inner hyphens, "
                              "at most 63)")
        if not self.domain:
            raise NameRefused("this server has no --domain for subdomains; ask for a --hostname")
        return f"{label}.{self.domain}"

    def take(self, holder: object, claim: str, now: float, *, subdomain: str = "", hostname: str = "",
             prefer: bool = False) -> Name:
        """Give a name to *holder* (a tunnel of the client with secret *claim*).

        Without *subdomain* and *hostname*, a random subdomain is drawn.  With
        *prefer*, a name that cannot be had is replaced by a random one (a
        reconnecting client whose drawn name was taken meanwhile).

        Raises:
            NameRefused: the name is held or reserved by another client, is
                already open for this client, or is not valid.
        """
        if not subdomain and not hostname:
            if not self.domain:
                raise NameRefused("this server has no --domain for subdomains; ask for a --hostname")
            for _ in range(100):  # pragma: no branch - a collision of 40 random bits is rare
                label = random_label()
                host = f"{label}.{self.domain}"
                if host not in self._names:
                    return self._hold(host, label, holder, claim)
        host = self.host_for(subdomain, hostname)
        found = self.lookup(host, now)
        if found is not None:
            mine = hmac.compare_digest(found.claim.encode(), claim.encode())
            if found.holder is not None:
                why = "already open for this client" if mine else "in use by another client"
            elif not mine:
                why = (f"reserved for another client, which lost its connection "
                       f"(for {max(1, int(found.expires - now + 0.999))} s more)")
            else:
                found.holder = holder
                found.expires = 0.0
                return found
            if prefer and not hostname:
                return self.take(holder, claim, now, prefer=False)
            raise NameRefused(f"{host} is {why}")
        return self._hold(host, subdomain.strip().lower() if not hostname else "", holder, claim)

    def _hold(self, host: str, label: str, holder: object, claim: str) -> Name:
        name = Name(host, label, holder, claim)
        self._names[host] = name
        return name

    def release(self, name: Name, now: float) -> None:
        """The holder went away: keep the name reserved for its client."""
        if self._names.get(name.host) is name:
            name.holder = None
            name.expires = now + self.reserve
            if self.reserve <= 0:
                del self._names[name.host]

    def drop(self, name: Name) -> None:
        """The client gave the name up: free it now."""
        if self._names.get(name.host) is name:
            del self._names[name.host]

    def snapshot(self, now: float) -> list[Name]:
        """Every name held or still reserved, by host name."""
        for host in [h for h, n in self._names.items() if n.holder is None and now >= n.expires]:
            del self._names[host]
        return [self._names[h] for h in sorted(self._names)]

    def lookup(self, host: str, now: float) -> Name | None:
        """The name *host* (lower case, no port), held or still reserved; else None."""
        name = self._names.get(host)
        if name is not None and name.holder is None and now >= name.expires:
            del self._names[host]
            return None
        return name
