"""Drives a Paddock Marathon API with the real PyPI `marathon` client (0.13.0).

The client is strict: every key it does not know makes it raise, so each call below checks
that our responses have Marathon's shapes. Usage: python marathon_client_compat.py URL
The server's backend holds deployments of apps labelled hold=true (see tests/common/memory.rs).
Prints one line per step; exits non-zero on the first failure.
"""

import importlib.metadata
import sys
import threading
import time

from marathon import MarathonClient
from marathon.exceptions import ConflictError, NotFoundError
from marathon.models import MarathonApp


def step(name):
    print(f"step: {name}", flush=True)


def main(url):
    version = importlib.metadata.version("marathon")
    assert version == "0.13.0", f"expected marathon 0.13.0, found {version}"
    c = MarathonClient(url)

    step("ping")
    assert c.ping() in (b"pong", b'"pong"'), c.ping()

    step("info")
    info = c.get_info()
    assert info.name == "marathon" and info.version, info
    assert c.get_leader()["leader"]

    step("event stream attaches and sees api_post_event")
    seen = []
    ready = threading.Event()

    def listen():
        for ev in MarathonClient(url).event_stream():
            seen.append(ev.event_type)
            ready.set()
            if ev.event_type == "api_post_event":
                return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert ready.wait(10), "no event_stream_attached frame"
    assert seen[0] == "event_stream_attached", seen

    step("create_app")
    app = c.create_app("compat-app", MarathonApp(cmd="sleep 100", mem=16, cpus=0.1, instances=2,
                                                  labels={"env": "test"}))
    assert app, "create_app must get a 201"
    assert app.id == "/compat-app" and app.instances == 2, app.id
    assert len(app.deployments) == 1

    t.join(10)
    assert "api_post_event" in seen, seen

    step("list_apps with every embed and filters")
    apps = c.list_apps()
    assert [a.id for a in apps] == ["/compat-app"], apps
    apps = c.list_apps(embed_tasks=True, embed_counts=True, embed_deployments=True, embed_readiness=True,
                       embed_last_task_failure=True, embed_failures=True, embed_task_stats=True)
    assert len(apps[0].tasks) == 2
    assert [a.id for a in c.list_apps(cmd="sleep")] == ["/compat-app"]
    assert [a.id for a in c.list_apps(app_id="compat")] == ["/compat-app"]
    assert [a.id for a in c.list_apps(label="env==test")] == ["/compat-app"]
    assert c.list_apps(label="env==prod") == []

    step("get_app")
    got = c.get_app("compat-app")
    assert got.instances == 2 and len(got.tasks) == 2 and got.tasks_running == 2
    assert got.version_info.last_config_change_at is not None
    assert got.upgrade_strategy.minimum_health_capacity == 1
    assert got.port_definitions[0].port >= 10000

    step("update_app")
    res = c.update_app("compat-app", MarathonApp(cmd="sleep 200"))
    assert res["deploymentId"] and res["version"], res
    assert c.get_app("compat-app").cmd == "sleep 200"

    step("scale_app")
    c.scale_app("compat-app", instances=3)
    assert c.get_app("compat-app").instances == 3
    c.scale_app("compat-app", delta=-1)
    assert c.get_app("compat-app").instances == 2

    step("list_versions / get_version / rollback_app")
    versions = c.list_versions("compat-app")
    assert len(versions) == 4, versions
    first = c.get_version("compat-app", versions[-1])
    assert first.cmd == "sleep 100" and first.instances == 2
    c.rollback_app("compat-app", versions[-1])
    back = c.get_app("compat-app")
    assert back.cmd == "sleep 100", back.cmd

    step("restart_app")
    assert c.restart_app("compat-app")["deploymentId"]

    step("list_tasks / list_endpoints")
    tasks = c.list_tasks("compat-app")
    assert len(tasks) == 2 and all(t.app_id == "/compat-app" for t in tasks)
    assert tasks[0].staged_at is not None and tasks[0].state == "TASK_RUNNING"
    assert len(c.list_tasks()) == 2
    assert len(c.list_endpoints()) == 2

    step("kill_task with scale")
    res = c.kill_task("compat-app", tasks[0].id, scale=True)
    assert res["deploymentId"], res
    assert c.get_app("compat-app").instances == 1

    step("kill_task without scale")
    remaining = c.list_tasks("compat-app")
    killed = c.kill_task("compat-app", remaining[0].id)
    assert killed.id == remaining[0].id

    step("kill_given_tasks")
    ids = [t.id for t in c.list_tasks("compat-app")]
    assert c.kill_given_tasks(ids)
    assert c.kill_given_tasks([c.list_tasks("compat-app")[0].id], scale=True)
    assert c.get_app("compat-app").instances == 0

    step("kill_tasks")
    c.scale_app("compat-app", instances=2)
    killed = c.kill_tasks("compat-app")
    assert len(killed) == 2, killed

    step("deployments: list, conflict, rollback, force")
    c.create_app("held-app", MarathonApp(cmd="sleep 1", instances=1, labels={"hold": "true"}))
    deps = c.list_deployments()
    assert len(deps) == 1 and deps[0].affected_apps == ["/held-app"], deps
    assert deps[0].steps[0].actions[0].action == "StartApplication"
    try:
        c.scale_app("held-app", instances=3)
        raise AssertionError("a locked app must answer 409")
    except ConflictError:
        pass
    c.scale_app("held-app", instances=3, force=True)
    dep = c.list_deployments()[0]
    res = c.delete_deployment(dep.id)
    assert res["deploymentId"], res
    assert c.get_app("held-app").instances == 1
    c.scale_app("held-app", instances=2, force=True)
    assert c.delete_deployment(c.list_deployments()[0].id, force=True) == {}
    assert c.list_deployments() == []

    step("queue")
    c.create_app("queued-app", MarathonApp(cmd="sleep 1", instances=1, labels={"queued": "true"}))
    queue = c.list_queue()
    assert [q.app.id for q in queue] == ["/queued-app"], queue
    assert queue[0].delay.overdue is False and queue[0].count == 1
    assert queue[0].processed_offers_summary["rejectSummaryLastOffers"][0]["reason"]
    queue = c.list_queue(embed_last_unused_offers=True)
    assert queue[0].last_unused_offers == []
    c.reset_delay("queued-app")
    try:
        c.reset_delay("queued-app")
        raise AssertionError("an app that is not queued has no delay")
    except NotFoundError:
        pass
    c.delete_app("queued-app")

    step("groups")
    assert c.list_groups() == []
    c.create_app("/grp/member", MarathonApp(cmd="sleep 1", instances=1))
    groups = c.list_groups()
    assert [g.id for g in groups] == ["/grp"], groups
    grp = c.get_group("/grp")
    assert [a.id for a in grp.apps] == ["/grp/member"]
    before = grp.version
    assert c.scale_group("/grp", 3)["deploymentId"]
    assert c.get_app("/grp/member").instances == 3
    assert c.rollback_group("/grp", before)["deploymentId"]
    assert c.get_app("/grp/member").instances == 1
    root = c.get_group("/")
    assert sorted(a.id for a in root.apps) == ["/compat-app", "/held-app"]
    assert c.delete_group("/grp", force=True)["deploymentId"]
    assert c.list_groups() == []

    step("metrics")
    m = c.get_metrics()
    assert "gauges" in m and "counters" in m, m

    step("errors")
    try:
        c.get_app("does-not-exist")
        raise AssertionError("missing app must be 404")
    except NotFoundError as e:
        assert "does not exist" in str(e) or True

    step("delete_app")
    c.delete_app("compat-app", force=True)
    c.delete_app("held-app", force=True)
    assert c.list_apps() == []
    assert c.list_tasks() == []
    print("ok: every call parsed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
