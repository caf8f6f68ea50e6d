"""PostgreSQL: the platform's books (tenants, accounts, orders, fills, positions, registry)."""
