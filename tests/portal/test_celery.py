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


def test_every_task_of_ours_is_routed_to_a_declared_queue() -> None:
    app.loader.import_default_modules()  # the apps' tasks modules, as a worker loads them
    ours = sorted(name for name in app.tasks if name.split(".")[0] in ("fleet", "audits", "portal"))
    queues = {queue.name for queue in app.conf.task_queues}

    routed = {name: app.amqp.router.route({}, name)["queue"].name for name in ours}

    assert set(ours) == set(app.conf.task_routes), "a task without a route, or a stale route"
    assert set(routed.values()) <= queues
    assert routed["fleet.tasks.run_deployment"] == "deploy"
    assert routed["fleet.tasks.run_verification"] == "verify"
    assert routed["audits.tasks.generate_evidence_pack"] == "evidence"
