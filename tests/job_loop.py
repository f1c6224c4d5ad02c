"""One host's cron gone wild, for tests/test_scale_out.py: from START (a Unix time, so that several hosts
begin at the same instant) for SECONDS, run every scheduled job (app.jobs.JOBS) through its own `flask`
command, again and again, with this process's environment as the app's settings. Prints one line per run:
"<group> <command> exit=<code>: <what it said>".

    python -m tests.job_loop START SECONDS"""

import sys
import time
import traceback

from app import create_app
from app.jobs import JOBS


def main(start: float, seconds: float) -> None:
    app = create_app()
    runner = app.test_cli_runner()
    time.sleep(max(0.0, start - time.time()))
    while time.time() < start + seconds:
        for words in JOBS.values():
            result = runner.invoke(args=list(words))
            said = " | ".join(result.output.split("\n")).strip(" |")
            print(f"{' '.join(words)} exit={result.exit_code}: {said}", flush=True)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                traceback.print_exception(result.exception)


if __name__ == "__main__":
    main(float(sys.argv[1]), float(sys.argv[2]))
