"""Database plumbing above Django's: the read replica's router and guards (``replica``)."""
