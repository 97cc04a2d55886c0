"""Operations on the operator's config: people and extensions, edited in place, audited and applied."""
