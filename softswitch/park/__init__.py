"""The parking lot: slots, codes, expiry, re-park reservation and BLF state (issue #4)."""
