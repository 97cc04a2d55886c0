"""What one node of a cluster signs a request to another with, and how that node checks it.

A node asks another to hand over a call parked there (``*801`` dialled at node b for a call
parked on node a).  A node's address alone proves nothing (a source address can be forged),
so the Request-URI carries ``peer-ts`` (the wall-clock second it was made) and ``peer-sig``:
an HMAC-SHA-256 with the cluster's shared secret over who asks (account, extension), for
what (the number dialled), of which node (its address) and when.  It is good for ``WINDOW``
seconds either way (the nodes' clocks agree within that).  Pure: time comes in as ``now``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from ..sip.uri import SipUri

WINDOW = 30.0


def signature(secret: bytes, account: str, caller: str, dialled: str, node: str, stamp: int) -> str:
    text = f"peer|{account}|{caller}|{dialled}|{node}|{stamp}"
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()[:32]


def signed(secret: bytes, account: str, caller: str, dialled: str, node: str, now: float) -> str:
    """The Request-URI parameters of a request to ``node`` (``host:port``)."""
    stamp = int(now)
    return f";peer-ts={stamp};peer-sig={signature(secret, account, caller, dialled, node, stamp)}"


def verified(secret: bytes, uri: object, account: str, caller: str, dialled: str, listens: Iterable[str],
             now: float) -> bool:
    """Whether ``uri`` carries a good signature for this request, made for one of the
    addresses this node ``listens`` on (``host:port``), within ``WINDOW`` of ``now``."""
    if not isinstance(uri, SipUri):
        return False
    stamp, sig, node = uri.param("peer-ts"), uri.param("peer-sig"), f"{uri.host}:{uri.port}"
    if stamp is None or not stamp.isdigit() or len(stamp) > 11 or sig is None or node not in set(listens):
        return False
    return abs(now - int(stamp)) <= WINDOW and hmac.compare_digest(sig, signature(secret, account, caller, dialled, node,
                                                                                 int(stamp)))
