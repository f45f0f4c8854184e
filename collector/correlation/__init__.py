"""Correlation across events, hosts and tenants: Sigma correlation rules evaluated as
batches are committed, with windows that live in the store."""
