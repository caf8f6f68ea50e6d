"""The pure trading model: no I/O, no frameworks, no clock of its own."""
