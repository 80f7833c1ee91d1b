"""Wire dialects: pure translation between modelport types and each server family's JSON."""
