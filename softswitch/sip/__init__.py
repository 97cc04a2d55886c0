"""Our SIP stack (RFC 3261 and friends): messages, transactions, auth, transports.

Everything here except ``transport/`` is pure: no sockets, no clock, no randomness.
"""
