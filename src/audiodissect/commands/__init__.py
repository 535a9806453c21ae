"""One module per command line command (see :mod:`audiodissect.cli`)."""
