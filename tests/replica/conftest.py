"""The nested scenarios under ``through_replica/`` run only inside ``test_read_replica.py``'s
own pytest run, whose settings name a real streaming replica; the suite itself collects only
the outer test."""

import os

collect_ignore_glob = [] if os.environ.get("DATABASE_REPLICA_URL") else ["through_replica/*"]
