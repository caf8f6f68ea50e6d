"""What the API reads and writes, apart from the domain's and the database's shapes, so
either can change without breaking a client."""
