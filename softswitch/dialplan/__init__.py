"""Resolving a dialled number inside an account: extensions, groups, feature codes,
trunks; call permissions and ring strategies (issues #3 and #5)."""
