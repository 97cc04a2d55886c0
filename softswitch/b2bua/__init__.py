"""The B2BUA call: an A leg and its B legs, dialog events in, actions out (issue #3)."""
