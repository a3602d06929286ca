"""History retention and the right to erasure (issue 15 item 5).

* `partitions`: monthly range partitions of the append-only history tables, created ahead and
  detached + dropped once older than every company's retention;
* `purge`: per-company deletion of history older than the company's `RetentionPolicy`;
* `erasure`: `erase_client`, which removes one customer's personal data everywhere.
"""
