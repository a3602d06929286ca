"""Files on messages, both ways: inbound media fetched from providers, agents' uploads sent out.

models.py    Attachment (a file on a message, or an upload waiting for one), AttachmentPolicy
rules.py     pure: which types a company accepts, the content-type sniff, size and quota
storage.py   where the bytes live (Django's default storage: filesystem or S3)
signing.py   short-lived signed URLs: for agents (company-checked) and for providers (public)
actions.py   every write: pending rows from the router, uploads, ready/failed, events
fetch.py     the download: provider media look-ups, the SSRF-guarded stream to storage
tasks.py     the dramatiq actors that run the downloads (never on the router's path)
views.py     serving signed URLs and the upload endpoint
"""
