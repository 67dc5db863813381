"""Moments one app announces to apps it may not know.

Two apps of one layer do not import each other (imports and quality are such siblings), yet one
must act when the other has done something. The announcing app sends a signal defined here,
below both; the listening app connects a receiver from its AppConfig.ready(). Receivers stay
thin, as the house rules ask of signals: they queue a task, which calls a service.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by fidele.imports when an import has ended having written contacts or orders (also when
# it stopped on an error after some batches): `kind` ("contacts" or "orders") and `job_id`.
import_finished = Signal()
