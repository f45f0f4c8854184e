"""Event ids: UUID version 7, unique, and ordered by the time they were made."""

from __future__ import annotations

import re
import time
import uuid

from agent.events import new_event, new_event_id


def test_an_event_id_is_a_version_7_uuid_in_32_hex_digits() -> None:
    event_id = new_event_id()
    assert re.fullmatch(r"[0-9a-f]{32}", event_id)
    parsed = uuid.UUID(event_id)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_an_event_id_starts_with_the_unix_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    event_id = new_event_id()
    after = time.time_ns() // 1_000_000
    assert before <= int(event_id[:12], 16) <= after


def test_ids_made_later_sort_after_earlier_ones_and_never_repeat() -> None:
    early = [new_event_id() for _ in range(1000)]
    time.sleep(0.002)  # the next millisecond at least
    late = [new_event_id() for _ in range(1000)]
    assert max(early) < min(late)
    assert len(set(early + late)) == 2000


def test_new_events_carry_such_ids() -> None:
    assert uuid.UUID(new_event().id).version == 7
