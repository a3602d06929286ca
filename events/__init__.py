"""④ Events: the schema, the transactional outbox and the durable per-company log.

The bottom layer of the project (Zulip keeps `send_event` below its actions the same way): the
chat actions, the SLA engine, the router and the websocket consumers import it, and it imports
none of them — tests/test_layers.py checks the import graph.

    schema.py   every event type, its recipients (channel-layer groups) and `make_event`
    outbox.py   `publish_on_commit`: rows in the writer's transaction, published after commit
    relay.py    publishes what a crashed writer (or a Redis failure) left in the outbox
    log.py      the Redis side: seq, the per-group log streams, the pub/sub push, in one script
"""
