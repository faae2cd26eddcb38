// Placeholder: replaced by the Systemd implementation.
