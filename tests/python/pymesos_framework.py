#!/usr/bin/env python3
"""A plain pymesos scheduler, written as an existing Mesos framework would be.

It subscribes to MASTER (host:port), launches N command tasks (or, with
--executor, tasks run by the custom pymesos executor beside this file),
prints every status update as one JSON line on stdout:

  {"task_id": ..., "state": ..., "reason": ..., "message": ...,
   "agent_id": ..., "has_uuid": true|false}

and exits 0 once all N tasks are TASK_FINISHED. It exits 1 if a task ends in
any other terminal state, on a framework ERROR, if the driver aborts or stops
by itself, or on timeout; the reason is the last line on stderr.
Acknowledgements are pymesos's implicit ones; on exit driver.stop() sends
TEARDOWN.
"""
import argparse
import getpass
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler, encode_data

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = {
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
}
EXECUTOR_CPUS = 0.1
EXECUTOR_MEM = 64.0


def log(msg):
    print("pymesos_framework: %s" % msg, file=sys.stderr, flush=True)


def scalar(offer, name):
    return sum(
        r.get("scalar", {}).get("value", 0.0)
        for r in offer.get("resources", [])
        if r.get("name") == name and r.get("type", "SCALAR") == "SCALAR"
    )


def scalar_resource(name, value):
    return Dict(name=name, type="SCALAR", scalar=Dict(value=value))


class Launcher(Scheduler):
    def __init__(self, args):
        self.args = args
        self.launched = 0
        self.finished = set()
        self.problem = None
        self.done = threading.Event()
        self.lock = threading.Lock()
        # Agents on which our executor was already launched (its resources
        # are taken once per agent).
        self.executor_agents = set()

    def fail(self, why):
        if self.problem is None and not self.done.is_set():
            self.problem = why
        self.done.set()

    def executor_info(self):
        executor = Dict()
        executor.executor_id.value = "pymesos-executor"
        executor.name = "pymesos-executor"
        executor.command.value = "%s %s" % (
            sys.executable,
            os.path.join(HERE, "pymesos_executor.py"),
        )
        executor.command.shell = True
        executor.resources = [
            scalar_resource("cpus", EXECUTOR_CPUS),
            scalar_resource("mem", EXECUTOR_MEM),
        ]
        return executor

    def task_info(self, offer):
        tid = "pymesos-%d-%s" % (self.launched, uuid.uuid4().hex[:6])
        task = Dict()
        task.task_id.value = tid
        task.agent_id.value = offer.agent_id.value
        task.name = tid
        task.resources = [
            scalar_resource("cpus", self.args.cpus),
            scalar_resource("mem", self.args.mem),
        ]
        if self.args.executor:
            task.executor = self.executor_info()
            # encode_data takes bytes on Python 3.
            task.data = encode_data(("hello from %s" % tid).encode("utf-8"))
        else:
            task.command.value = self.args.cmd
            task.command.shell = True
        return task

    # Scheduler callbacks (pymesos runs them on its IO thread: an exception
    # here aborts the driver, which main() reports).

    def registered(self, driver, framework_id, master_info):
        log("registered as %s with %s" % (framework_id.value, master_info))

    def reregistered(self, driver, master_info):
        log("re-registered with %s" % master_info)

    def disconnected(self, driver):
        log("disconnected from the master (pymesos will re-subscribe)")

    def resourceOffers(self, driver, offers):
        with self.lock:
            for offer in offers:
                agent = offer.agent_id.value
                cpus, mem = scalar(offer, "cpus"), scalar(offer, "mem")
                if self.args.executor and agent not in self.executor_agents:
                    cpus, mem = cpus - EXECUTOR_CPUS, mem - EXECUTOR_MEM
                tasks = []
                while (
                    self.launched < self.args.tasks
                    and cpus >= self.args.cpus - 1e-9
                    and mem >= self.args.mem - 1e-9
                ):
                    tasks.append(self.task_info(offer))
                    self.launched += 1
                    cpus -= self.args.cpus
                    mem -= self.args.mem
                if tasks:
                    if self.args.executor:
                        self.executor_agents.add(agent)
                    log("launching %s on agent %s (offer %s)" % (
                        ", ".join(t.task_id.value for t in tasks), agent, offer.id.value))
                    driver.launchTasks(offer.id, tasks, Dict(refuse_seconds=1))
                else:
                    driver.declineOffer(offer.id, Dict(refuse_seconds=1))

    def offerRescinded(self, driver, offer_id):
        log("offer %s rescinded" % offer_id.value)

    def statusUpdate(self, driver, update):
        state = update.get("state")
        task_id = update.get("task_id", {}).get("value")
        print(json.dumps({
            "task_id": task_id,
            "state": state,
            "reason": update.get("reason"),
            "message": update.get("message"),
            "agent_id": update.get("agent_id", {}).get("value"),
            "has_uuid": "uuid" in update,
        }), flush=True)
        with self.lock:
            if state == "TASK_FINISHED":
                self.finished.add(task_id)
                if len(self.finished) >= self.args.tasks:
                    self.done.set()
            elif state in BAD:
                self.fail("task %s ended %s (reason %s): %s" % (
                    task_id, state, update.get("reason"), update.get("message")))

    def frameworkMessage(self, driver, executor_id, agent_id, message):
        log("message from executor %s: %r" % (executor_id.value, message))

    def slaveLost(self, driver, agent_id):
        log("agent %s lost" % agent_id.value)

    def executorLost(self, driver, executor_id, agent_id, status):
        log("executor %s on agent %s lost with status %s" % (
            executor_id.value, agent_id.value, status))

    def error(self, driver, message):
        self.fail("framework error from the master: %s" % message)


def parse_args(argv=None, executor=False):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("master", help="the master as HOST:PORT")
    p.add_argument("--tasks", type=int, default=1, help="how many tasks (default 1)")
    p.add_argument("--cmd", default="echo hello", help="shell command of each task")
    p.add_argument("--cpus", type=float, default=0.1, help="cpus per task (default 0.1)")
    p.add_argument("--mem", type=float, default=32, help="mem (MB) per task (default 32)")
    p.add_argument("--timeout", type=float, default=60,
                   help="seconds before giving up (default 60)")
    p.add_argument("--name", default="pymesos-compat", help="framework name")
    p.add_argument("--executor", action="store_true", default=executor,
                   help="run the tasks with the custom pymesos executor")
    p.add_argument("--verbose", action="store_true", help="pymesos's debug logs (on stderr)")
    args = p.parse_args(argv)
    if args.tasks < 1:
        p.error("--tasks must be at least 1")
    return args


def main(argv=None, executor=False):
    args = parse_args(argv, executor)
    if args.verbose:  # pymesos has its own stderr handler
        logging.getLogger("pymesos").setLevel(logging.DEBUG)
    framework = Dict()
    framework.user = getpass.getuser()
    framework.name = args.name
    framework.hostname = socket.gethostname()
    sched = Launcher(args)
    driver = MesosSchedulerDriver(
        sched, framework, args.master, use_addict=True, implicit_acknowledgements=True)
    log("subscribing to %s for %d task(s)%s" % (
        args.master, args.tasks, " with the custom executor" if args.executor else ""))
    deadline = time.monotonic() + args.timeout
    driver.start()
    try:
        while not sched.done.wait(0.2):
            if driver.aborted:
                sched.fail("the driver stopped by itself (aborted); see pymesos's log above")
            elif time.monotonic() > deadline:
                sched.fail("timed out after %gs: %d launched, %d of %d finished" % (
                    args.timeout, sched.launched, len(sched.finished), args.tasks))
    except BaseException as e:  # pymesos re-raises its IO thread's error here
        sched.fail("the driver aborted: %s: %s" % (type(e).__name__, e))
    finally:
        driver.stop()  # TEARDOWN
        driver.join()
    if sched.problem:
        log(sched.problem)
        return 1
    log("all %d task(s) finished" % args.tasks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
