// Placeholder: replaced by the Postgres implementation.
