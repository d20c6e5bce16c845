#!/usr/bin/env python3
"""A plain pymesos scheduler, as an existing Mesos framework would be written.

It subscribes to MASTER, launches N command tasks (or tasks that use the
custom pymesos executor beside this file, with --executor), prints every
status update as one JSON line, and exits 0 once all tasks are
TASK_FINISHED; 1 if any ends otherwise, on a driver error, or on timeout.
Acknowledgements are pymesos's implicit ones.
"""
import argparse
import getpass
import json
import os
import socket
import sys
import threading
import uuid

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler, encode_data

BAD = {"TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE"}


def scalar(offer, name):
    return sum(r.scalar.value for r in offer.resources if r.name == name)


class Launcher(Scheduler):
    def __init__(self, args):
        self.args = args
        self.launched = 0
        self.finished = set()
        self.problem = None
        self.done = threading.Event()
        self.lock = threading.Lock()

    def _task(self, offer):
        tid = "pymesos-%d-%s" % (self.launched, uuid.uuid4().hex[:6])
        task = Dict()
        task.task_id.value = tid
        task.agent_id.value = offer.agent_id.value
        task.name = tid
        task.resources = [
            dict(name="cpus", type="SCALAR", scalar={"value": self.args.cpus}),
            dict(name="mem", type="SCALAR", scalar={"value": self.args.mem}),
        ]
        if self.args.executor:
            here = os.path.dirname(os.path.abspath(__file__))
            task.executor.executor_id.value = "pymesos-executor"
            task.executor.name = "pymesos-executor"
            task.executor.command.value = "%s %s" % (sys.executable, os.path.join(here, "pymesos_executor.py"))
            task.executor.resources = [
                dict(name="cpus", type="SCALAR", scalar={"value": 0.1}),
                dict(name="mem", type="SCALAR", scalar={"value": 64}),
            ]
            task.data = encode_data(("hello from %s" % tid).encode())
        else:
            task.command.value = self.args.cmd
        return task

    def resourceOffers(self, driver, offers):
        with self.lock:
            for offer in offers:
                cpus, mem = scalar(offer, "cpus"), scalar(offer, "mem")
                if self.args.executor and self.launched == 0:
                    cpus, mem = cpus - 0.1, mem - 64
                tasks = []
                while self.launched < self.args.tasks and cpus >= self.args.cpus and mem >= self.args.mem:
                    tasks.append(self._task(offer))
                    self.launched += 1
                    cpus -= self.args.cpus
                    mem -= self.args.mem
                if tasks:
                    driver.launchTasks(offer.id, tasks, Dict(refuse_seconds=1))
                else:
                    driver.declineOffer(offer.id, Dict(refuse_seconds=1))

    def statusUpdate(self, driver, update):
        state = update.state
        print(json.dumps({
            "task_id": update.task_id.value,
            "state": state,
            "reason": update.get("reason"),
            "message": update.get("message"),
            "agent_id": update.get("agent_id", {}).get("value"),
            "has_uuid": "uuid" in update,
        }), flush=True)
        with self.lock:
            if state == "TASK_FINISHED":
                self.finished.add(update.task_id.value)
                if len(self.finished) >= self.args.tasks:
                    self.done.set()
            elif state in BAD:
                self.problem = "task %s ended %s: %s" % (update.task_id.value, state, update.get("message"))
                self.done.set()

    def error(self, driver, message):
        self.problem = "framework error: %s" % message
        self.done.set()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("master")
    p.add_argument("--tasks", type=int, default=1)
    p.add_argument("--cmd", default="echo hello")
    p.add_argument("--cpus", type=float, default=0.1)
    p.add_argument("--mem", type=float, default=32)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--executor", action="store_true", help="use the custom pymesos executor")
    args = p.parse_args()

    framework = Dict()
    framework.user = getpass.getuser()
    framework.name = "pymesos-compat"
    framework.hostname = socket.gethostname()
    sched = Launcher(args)
    driver = MesosSchedulerDriver(sched, framework, args.master, use_addict=True)
    driver.start()
    finished = sched.done.wait(args.timeout)
    driver.stop()
    driver.join()
    if sched.problem:
        print(sched.problem, file=sys.stderr)
        return 1
    if not finished:
        print("timed out: %d of %d tasks finished" % (len(sched.finished), args.tasks), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
