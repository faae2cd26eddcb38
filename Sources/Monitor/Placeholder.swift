// Placeholder: replaced by the Monitor implementation.
