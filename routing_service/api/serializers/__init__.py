"""Request validation and response shapes for /api/v1/, one module per topic."""
