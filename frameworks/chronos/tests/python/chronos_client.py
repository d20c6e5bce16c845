"""Drives Paddock's Chronos API with the real chronos-python client (1.2.1).

Usage: python chronos_client.py HOST:PORT
Exits non-zero (with a traceback) when the client cannot parse an answer
or an answer is not what Chronos would give.
"""
import sys

import chronos


def main(server):
    for version in ("v1", None):  # /v1/scheduler and the legacy /scheduler
        client = chronos.connect(server, scheduler_api_version=version)
        suffix = "v1" if version else "legacy"
        parent = "py-parent-%s" % suffix
        child = "py-child-%s" % suffix

        # add (scheduled) and add (dependent): 204s with empty bodies.
        assert client.add({
            "name": parent,
            "command": "echo parent",
            "owner": "ops@example.com",
            "disabled": False,
            "async": False,
            "schedule": "R/2030-01-01T00:00:00Z/PT1H",
            "scheduleTimeZone": "Europe/Berlin",
        }) is None
        assert client.add({
            "name": child,
            "command": "echo child",
            "owner": "ops@example.com",
            "disabled": False,
            "async": False,
            "parents": [parent],
        }) is None
        # update of an existing job (PUT in legacy mode).
        assert client.update({
            "name": parent,
            "command": "echo parent v2",
            "owner": "ops@example.com",
            "disabled": False,
            "async": False,
            "schedule": "R/2030-01-01T00:00:00Z/PT1H",
            "scheduleTimeZone": "Europe/Berlin",
        }) is None

        jobs = {j["name"]: j for j in client.list()}
        assert jobs[parent]["command"] == "echo parent v2", jobs[parent]
        assert jobs[parent]["scheduleTimeZone"] == "Europe/Berlin"
        assert jobs[child]["parents"] == [parent], jobs[child]

        found = client.search(name=parent)
        assert [j["name"] for j in found] == [parent], found
        found = client.search(command="echo child")
        assert [j["name"] for j in found] == [child], found

        # run now: 204.
        assert client.run(parent) is None

        stat = client.job_stat(parent)
        assert stat["histogram"]["count"] == 0, stat
        assert isinstance(stat["taskStatHistory"], list)
        for fn in (client.scheduler_stat_99th, client.scheduler_stat_98th,
                   client.scheduler_stat_95th, client.scheduler_stat_75th,
                   client.scheduler_stat_median, client.scheduler_stat_mean):
            rows = fn()
            assert any(r["jobNameLabel"] == parent for r in rows), rows
        graph = client.scheduler_graph()
        assert "node,%s," % parent in graph and "link,%s,%s" % (parent, child) in graph, graph
        metrics = client.metrics()
        assert "version" in metrics and "gauges" in metrics, metrics

        # A bad job is refused (the client raises on the 400).
        try:
            client.add({"name": "bad name", "command": "x", "owner": "", "disabled": False,
                        "async": False, "schedule": "R/2030-01-01T00:00:00Z/PT1H"})
        except chronos.ChronosAPIError:
            pass
        else:
            raise AssertionError("a name with a space was accepted")

        assert client.delete_tasks(parent) is None
        assert client.delete(child) is None
        assert client.delete(parent) is None
        names = [j["name"] for j in client.list()]
        assert parent not in names and child not in names, names
    print("chronos-python OK")


if __name__ == "__main__":
    main(sys.argv[1])
