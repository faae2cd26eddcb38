// Placeholder: replaced by the MonitorConfig implementation.
