"""The registrar: bindings rules (pure) and the service that applies them."""
