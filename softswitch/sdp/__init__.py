"""SDP (RFC 4566): the session model and the offer/answer rules the B2BUA relay needs."""
