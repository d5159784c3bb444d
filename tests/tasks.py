"""The task backend the tests deliver domain events with: each delivery runs in the test's
process right after the emitting transaction commits, as a worker would run it moments
later. A delivery to be tried later (a failed subscriber's next try) is kept in
``deferred`` and not run; the database backend's own tests run real workers."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.tasks.backends.immediate import ImmediateBackend
from django.tasks.base import TaskResult, TaskResultStatus
from django.utils.crypto import get_random_string


class OnCommitBackend(ImmediateBackend):
    supports_defer = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.deferred: list[TaskResult[Any, Any]] = []

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> TaskResult[Any, Any]:
        self.validate_task(task)
        result: TaskResult[Any, Any] = TaskResult(
            task=task,
            id=get_random_string(32),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        if task.run_after is not None:
            self.deferred.append(result)
        else:
            transaction.on_commit(lambda: self._execute_task(result))  # type: ignore[attr-defined]
        return result
