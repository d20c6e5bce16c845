#!/usr/bin/env python3
"""A custom pymesos executor (MesosExecutorDriver), as existing frameworks
ship them. For each launched task it reports TASK_RUNNING, writes the task's
decoded data to stdout, then reports TASK_FINISHED (TASK_FAILED if that
goes wrong). KILL is answered with TASK_KILLED.

The agent starts it with MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID and
MESOS_EXECUTOR_ID set; pymesos reads them. Diagnostics go to stderr.
"""
import os
import sys
import threading
import time

from addict import Dict
from pymesos import Executor, MesosExecutorDriver, decode_data


def log(msg):
    print("pymesos_executor: %s" % msg, file=sys.stderr, flush=True)


def update(driver, task_id, state, message=None):
    status = Dict()
    status.task_id.value = task_id
    status.state = state
    status.timestamp = time.time()
    if message:
        status.message = message
    driver.sendStatusUpdate(status)


class Echo(Executor):
    def __init__(self):
        self.killed = set()

    def registered(self, driver, executor_info, framework_info, agent_info):
        log("registered: executor %s of framework %s on agent %s" % (
            executor_info.executor_id.value, framework_info.id.value,
            agent_info.get("id", {}).get("value")))

    def launchTask(self, driver, task):
        task_id = task.task_id.value

        def run():
            try:
                update(driver, task_id, "TASK_RUNNING")
                data = decode_data(task.data) if task.get("data") else b""
                print(data.decode("utf-8", errors="replace"), flush=True)
                time.sleep(0.5)
                if task_id not in self.killed:
                    update(driver, task_id, "TASK_FINISHED")
            except Exception as e:  # report it instead of dying silently
                log("task %s failed: %r" % (task_id, e))
                try:
                    update(driver, task_id, "TASK_FAILED", "executor error: %r" % e)
                except Exception as e2:
                    log("could not report TASK_FAILED: %r" % e2)

        threading.Thread(target=run, name="task-%s" % task_id, daemon=True).start()

    def killTask(self, driver, task_id):
        log("kill %s" % task_id.value)
        self.killed.add(task_id.value)
        update(driver, task_id.value, "TASK_KILLED")

    def shutdown(self, driver):
        log("shutdown")

    def error(self, driver, message):
        log("error from the agent: %s" % message)


def main():
    missing = [k for k in ("MESOS_AGENT_ENDPOINT", "MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID")
               if k not in os.environ]
    if missing:
        log("not started by an agent: %s unset" % ", ".join(missing))
        return 2
    driver = MesosExecutorDriver(Echo(), use_addict=True)
    driver.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
