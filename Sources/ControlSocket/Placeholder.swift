// Placeholder: replaced by the ControlSocket implementation.
