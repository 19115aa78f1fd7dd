"""erp_operators."""
