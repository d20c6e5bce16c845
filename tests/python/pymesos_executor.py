#!/usr/bin/env python3
"""A custom pymesos executor: reports TASK_RUNNING, prints the task's data,
then reports TASK_FINISHED."""
import sys
import threading
import time

from addict import Dict
from pymesos import Executor, MesosExecutorDriver, decode_data


class Echo(Executor):
    def launchTask(self, driver, task):
        def run():
            update = Dict()
            update.task_id.value = task.task_id.value
            update.state = "TASK_RUNNING"
            update.timestamp = time.time()
            driver.sendStatusUpdate(update)
            print(decode_data(task.data).decode(), flush=True)
            time.sleep(0.5)
            update = Dict()
            update.task_id.value = task.task_id.value
            update.state = "TASK_FINISHED"
            update.timestamp = time.time()
            driver.sendStatusUpdate(update)

        threading.Thread(target=run, daemon=True).start()


if __name__ == "__main__":
    MesosExecutorDriver(Echo(), use_addict=True).run()
    sys.exit(0)
