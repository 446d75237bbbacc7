from portal.celery import app


def test_the_worker_queues_are_declared() -> None:
    names = {queue.name for queue in app.conf.task_queues}

    assert {"deploy", "verify", "probe", "evidence"} <= names
    assert app.conf.task_default_queue in names


def test_tasks_are_acknowledged_late_and_travel_as_json() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
