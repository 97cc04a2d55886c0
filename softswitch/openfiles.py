"""How many files the switch may hold open, and what fits in that (``RLIMIT_NOFILE``).

Every relayed call holds four sockets (two RTP/RTCP port pairs) and perhaps a recording's
file; every TCP, TLS or WebSocket phone holds a connection.  A login shell on Debian starts
programs with a soft limit of 1,024 open files, which the default port range alone (5,000
pairs) outgrows at about 250 calls: past it, binding a call's RTP socket or accepting a
phone's connection fails with ``EMFILE`` in whatever piece of the switch asked.

So at start the soft limit is raised as far as the switch needs and the hard limit allows,
and when the hard limit is too low for the configuration, the relay's port pool and the
connection cap are shrunk to what fits (a call is then refused with ``503`` by the port
pool, and a connection closed at once and counted, instead of failing half-way), with one
warning that says what to raise.  ``plan`` is the pure part.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass

log = logging.getLogger(__name__)

PER_PAIR = 3  # an RTP and an RTCP socket, and room for a recording's or a monitor's file
SPARE = 256  # listeners, the store, the log, the control socket, HTTP clients of the API


@dataclass(frozen=True)
class FilePlan:
    limit: int  # the soft limit to run with
    pairs: int  # RTP port pairs that may be in use at once
    connections: int  # stream connections (TCP, TLS, WebSocket) that may be open at once
    short: bool  # the hard limit did not allow what the config asks for


def plan(soft: int, hard: int, pairs: int, connections: int) -> FilePlan:
    """What to run with, given the current limits (``resource.RLIM_INFINITY`` is -1) and what
    the configuration asks for: all of it when the hard limit allows, else the files there are
    shared out (a quarter to connections at most, the rest to port pairs)."""
    needed = PER_PAIR * pairs + connections + SPARE
    ceiling = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    limit = max(soft, ceiling) if soft != resource.RLIM_INFINITY else soft
    if soft == resource.RLIM_INFINITY or limit >= needed:
        return FilePlan(limit, pairs, connections, short=False)
    room = max(0, limit - SPARE)
    shared_connections = min(connections, room // 4)
    return FilePlan(limit, min(pairs, (room - shared_connections) // PER_PAIR), shared_connections, short=True)


def raise_open_files(pairs: int, connections: int, reserve: int = 0) -> FilePlan:
    """Raise the soft limit to what ``plan`` says, and log what it is (a warning if short;
    ``reserve``: the pairs the load shedding keeps for calls already up, ``overload.port_reserve``)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    chosen, which = plan(soft, hard, pairs, connections), "the hard limit"
    if chosen.limit != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (chosen.limit, hard))
        except (ValueError, OSError) as exc:  # not allowed after all: share out what there is
            log.warning("open files: the limit of %d could not be raised to %d: %s", soft, chosen.limit, exc)
            chosen, which = plan(soft, soft, pairs, connections), "the soft limit, which could not be raised"
    if chosen.short:
        calls = max(0, chosen.pairs - reserve) // 2
        log.log(logging.ERROR if calls == 0 else logging.WARNING,
                "open files: at most %d (%s; raise it with LimitNOFILE= in the systemd unit or ulimit -n): room for "
                "%d of the %d RTP port pairs (%d calls at once, overload.port_reserve kept) and %d of the %d "
                "connections (transport.max_connections); calls past that get 503", chosen.limit, which, chosen.pairs,
                pairs, calls, chosen.connections, connections)
    elif chosen.limit != soft:
        log.info("open files: limit raised from %d to %d", soft, chosen.limit)
    return chosen
