import csv
import datetime as dt
import io
import json
import socket

import pytest
from django.db import DatabaseError, connection, transaction

from portside.audit import services as audit
from portside.audit.models import AppendOnlyError, AuditEvent
from portside.audit.services import AuditFilter, Target
from portside.core import clock
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_record_snapshots_actor_and_target_and_survives_their_deletion():
    user = make_user("alice")
    row = audit.record(
        user, "account:test:done", user, ip_address="10.0.0.1", user_agent="ua", size=3
    )
    user.delete()
    row = AuditEvent.objects.get(pk=row.pk)
    assert (row.actor_name, row.target_label, row.target_type) == (
        "alice",
        "alice",
        "accounts.user",
    )
    assert row.details == {"size": 3}


@pytest.mark.parametrize("action", ["bad", "a:b", "A:b:c", "a:b:c\n", "a:b:c:d", "a b:c:d"])
def test_action_names_are_checked(action):
    with pytest.raises(ValueError):
        audit.record(None, action)


def test_orm_refuses_updates_and_deletes():
    row = audit.record(None, "test:row:made")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=row.pk).update(action="test:row:changed")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=row.pk).delete()
    with pytest.raises(AppendOnlyError):
        row.delete()
    row.action = "test:row:changed"
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_create(
            [AuditEvent(action="x:y:z", hash="0", created_at=clock.now())]
        )


def test_database_refuses_updates_from_any_client():
    row = audit.record(None, "test:row:made")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'x:y:z' WHERE id = %s", [row.pk])


def test_row_is_part_of_the_callers_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(None, "test:row:made")
        raise RuntimeError("the action failed")
    assert not AuditEvent.objects.exists()


def _drop_trigger():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER audit_auditevent_no_update ON audit_auditevent")
        else:
            cursor.execute("DROP TRIGGER audit_auditevent_no_update")


class TestChain:
    def test_intact_chain_verifies(self):
        for i in range(5):
            audit.record(None, "test:row:made", n=i, when=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        result = audit.verify()
        assert result.ok and result.checked == 5

    def test_edited_row_is_found(self):
        rows = [audit.record(None, "test:row:made", n=i) for i in range(5)]
        _drop_trigger()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditevent SET actor_name = 'mallory' WHERE id = %s", [rows[2].pk]
            )
        result = audit.verify()
        assert not result.ok
        assert result.broken_id == rows[2].pk and result.checked == 2
        assert "content" in result.reason

    def test_removed_row_is_found(self):
        rows = [audit.record(None, "test:row:made", n=i) for i in range(5)]
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [rows[3].pk])
        result = audit.verify()
        assert result.broken_id == rows[4].pk
        assert "removed" in result.reason

    def test_removed_first_rows_are_found(self):
        rows = [audit.record(None, "test:row:made", n=i) for i in range(3)]
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [rows[0].pk])
        assert audit.verify().broken_id == rows[1].pk


class TestRetention:
    def test_purge_keeps_recent_rows_and_chain_still_verifies(self, settings):
        settings.AUDIT_RETENTION_DAYS = 180
        start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        with clock.frozen(start) as frozen:
            for i in range(25):
                audit.record(None, "test:row:made", n=i)
                frozen.advance(days=10)
            deleted = audit.purge_expired(batch_size=4)
        # Rows from 2025-01-01 to 2025-09-08 are 250 days old... only rows newer than
        # 180 days before 2025-09-28 (the last tick) remain.
        cutoff = start + dt.timedelta(days=250) - dt.timedelta(days=180)
        assert deleted == sum(1 for i in range(25) if start + dt.timedelta(days=10 * i) < cutoff)
        assert not AuditEvent.objects.filter(created_at__lt=cutoff).exists()
        purge = AuditEvent.objects.get(action="audit:retention:purged")
        assert purge.details["deleted"] == deleted
        assert audit.verify().ok

    def test_nothing_to_purge(self):
        audit.record(None, "test:row:made")
        assert audit.purge_expired() == 0
        assert not AuditEvent.objects.filter(action="audit:retention:purged").exists()

    def test_retention_below_180_days_is_refused(self, settings):
        from django.core.checks import run_checks

        settings.AUDIT_RETENTION_DAYS = 179
        errors = [e for e in run_checks() if e.id == "portside.E001"]
        assert errors and "180" in errors[0].msg
        with pytest.raises(ValueError):
            audit.purge_expired()


class TestReading:
    def setup_method(self):
        self.alice = make_user("alice")
        for i in range(120):
            audit.record(
                self.alice if i % 2 else None,
                "registry:manifest:pushed" if i % 3 else "account:session:signed_in",
                Target("registry.repository", str(i % 5), f"repo{i % 5}"),
                n=i,
            )

    def test_keyset_pages_cover_everything_once(self):
        seen, before = [], None
        while True:
            rows, before = audit.page(AuditFilter(), before=before)
            seen += [r.pk for r in rows]
            if before is None:
                break
        assert len(seen) == len(set(seen)) == AuditEvent.objects.count()
        assert seen == sorted(seen, reverse=True)

    def test_filters(self):
        rows, _ = audit.page(AuditFilter(action="registry:", actor="alice", target_id="3"))
        assert rows and all(
            r.action.startswith("registry:") and r.actor_name == "alice" and r.target_id == "3"
            for r in rows
        )
        rows, _ = audit.page(AuditFilter(action="registry:"))
        assert {r.action for r in rows} == {"registry:manifest:pushed"}
        rows, _ = audit.page(AuditFilter(until=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
        assert rows == []

    def test_exports(self):
        flt = AuditFilter(action="account:session:signed_in")
        lines = "".join(audit.export_jsonl(flt)).splitlines()
        expected = AuditEvent.objects.filter(action="account:session:signed_in").count()
        assert len(lines) == expected
        first = json.loads(lines[0])
        assert first["action"] == "account:session:signed_in" and len(first["hash"]) == 64
        rows = list(csv.DictReader(io.StringIO("".join(audit.export_csv(flt)))))
        assert len(rows) == expected
        assert json.loads(rows[0]["details"]) == first["details"]

    def test_csv_neutralises_formulas(self):
        audit.record("=cmd|'/C calc'!A0", "account:session:signed_in", user_agent="+danger")
        rows = list(
            csv.DictReader(
                io.StringIO("".join(audit.export_csv(AuditFilter(actor="=cmd|'/C calc'!A0"))))
            )
        )
        assert rows[0]["actor_name"].startswith("'=") and rows[0]["user_agent"] == "'+danger"


class TestStream:
    def test_file_and_syslog_sinks_receive_committed_rows_only(
        self, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        port = receiver.getsockname()[1]
        path = tmp_path / "audit.jsonl"
        settings.AUDIT_STREAM = [f"file:{path}", f"syslog:udp://127.0.0.1:{port}"]
        with django_capture_on_commit_callbacks(execute=True):
            row = audit.record(None, "test:row:streamed", n=1)
        with (
            pytest.raises(RuntimeError),
            django_capture_on_commit_callbacks(execute=False) as callbacks,
        ):
            with transaction.atomic():
                audit.record(None, "test:row:rolled_back")
                raise RuntimeError
        assert callbacks == []
        lines = path.read_text().splitlines()
        assert [json.loads(line)["action"] for line in lines] == ["test:row:streamed"]
        assert json.loads(lines[0])["hash"] == row.hash
        datagram = receiver.recv(65536).decode()
        assert "portside-audit:" in datagram and row.hash in datagram
        receiver.close()

    @pytest.mark.parametrize(
        "spec", ["file:relative.log", "syslog:http://x", "kafka:x", "syslog:udp://nohost"]
    )
    def test_bad_sinks_are_refused_at_start(self, settings, spec):
        from django.core.checks import run_checks

        settings.AUDIT_STREAM = [spec]
        assert [e for e in run_checks() if e.id == "portside.E002"]


def test_tcp_syslog_sink_reconnects_after_the_peer_restarts():
    from portside.audit.stream import SyslogSink

    def listen(port=0):
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(1)
        server.settimeout(5)
        return server

    server = listen()
    port = server.getsockname()[1]
    sink = SyslogSink(f"tcp://127.0.0.1:{port}")
    peer, _ = server.accept()
    sink.write('{"n":1}')
    assert b'{"n":1}' in peer.recv(4096)
    peer.close()
    server.close()
    server = listen(port)
    sink.write('{"n":2}')  # may vanish into the dead connection ...
    sink.write('{"n":3}')  # ... but the sink reconnects and later rows arrive
    peer, _ = server.accept()
    peer.settimeout(5)
    received = b""
    while b'{"n":3}' not in received:
        chunk = peer.recv(4096)
        assert chunk
        received += chunk
    peer.close()
    server.close()
    sink._handler.close()


def test_record_many_keeps_one_chain_in_id_order():
    audit.record(None, "test:row:made", n=0)
    rows = audit.record_many(
        [
            {"actor": "cli", "action": "test:row:batched", "n": i, "ip_address": "10.0.0.9"}
            for i in range(5)
        ]
    )
    audit.record(None, "test:row:made", n=6)
    stored = list(AuditEvent.objects.order_by("id"))
    assert [r.details.get("n") for r in stored] == [0, 0, 1, 2, 3, 4, 6]
    assert [r.hash for r in stored[1:6]] == [r.hash for r in rows]
    assert stored[1].ip_address == "10.0.0.9" and stored[1].actor_name == "cli"
    assert audit.verify().ok and audit.verify().checked == 7
    with pytest.raises(ValueError):
        audit.record_many([{"actor": None, "action": "bad"}])
    assert audit.record_many([]) == []
