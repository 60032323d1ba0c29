"""python bench/measure.py RESULT.json COMMAND...

Runs COMMAND and writes its wall seconds, peak RSS and exit code to RESULT.json. bench/run.py starts
every measured process through this small launcher (standard library only, a few MB) because Linux
counts the memory a child inherits at fork into the child's peak RSS: started straight from the
harness, which has pandas and scikit-learn loaded, even `autotune --help` would report ~200 MB.
"""
import json
import os
import subprocess
import sys
import time


def main() -> None:
    result, command = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as out:
        json.dump({"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "exit_code": code}, out)
    sys.exit(code)


if __name__ == "__main__":
    main()
