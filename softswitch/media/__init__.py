"""Media anchored on the switch: RTP/RTCP relay with latching and counters, port
allocation, players and recorders (issue #3 builds it; DESIGN.md "Media")."""
