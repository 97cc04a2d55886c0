"""Text messages between phones (SIP MESSAGE, RFC 3428): core.py decides, service.py sends."""
