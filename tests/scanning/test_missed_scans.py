"""The scan sweep finds images that were pushed but never scanned (their push's event
was lost), and only those."""

from __future__ import annotations

import datetime as dt

import pytest

from portside.core import clock
from portside.registry.models import Manifest
from portside.scanning import running
from portside.scanning.models import Scan, ScanStatus
from tests.moderation.world import build_publishing_world, push_image

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def _pushed(world, seed: str, ago: dt.timedelta) -> str:
    digest = push_image(world.repository, seed=seed)
    Manifest.objects.filter(digest=digest).update(pushed_at=START - ago)
    return digest


def test_an_image_pushed_without_a_scan_is_queued_once(settings):
    settings.SCAN_ON_PUSH = True
    with clock.frozen(START):
        world = build_publishing_world()
        Scan.objects.all().delete()
        missed = _pushed(world, "missed", dt.timedelta(minutes=11))
        _pushed(world, "just-now", dt.timedelta(minutes=2))  # its event may still come
        _pushed(world, "last-month", dt.timedelta(days=30))  # left to a scan by hand
        Manifest.objects.filter(digest=world.digest).update(pushed_at=START - dt.timedelta(days=9))
        assert running.sweep(START)["unscanned"] == 1
        scan = Scan.objects.get()
        assert scan.digest == missed and scan.status == ScanStatus.QUEUED
        assert running.sweep(START)["unscanned"] == 0


def test_nothing_is_queued_when_scans_on_push_are_off(settings):
    settings.SCAN_ON_PUSH = False
    with clock.frozen(START):
        world = build_publishing_world()
        _pushed(world, "missed", dt.timedelta(hours=1))
        assert running.sweep(START)["unscanned"] == 0
