"""The only asyncio in ``sip/``: sockets in, bytes to the pure stack, bytes out."""
