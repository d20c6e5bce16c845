#!/usr/bin/env python3
"""pymesos_framework.py with --executor always on: the tasks run on the
custom pymesos executor (pymesos_executor.py beside this file, started as
`<sys.executable> <abs path>/pymesos_executor.py`), which prints each task's
data to its stdout.

  pymesos_executor_framework.py MASTER_HOST:PORT --tasks N [--timeout 60]
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pymesos_framework import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(executor=True))
