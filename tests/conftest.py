"""The suite's time per test file and worker, printed at the end of a run.

CI runs the files on three workers, a file staying on one (`--dist loadfile`): the run takes as
long as the busier worker. This summary says how the files fell between the workers."""
from collections import defaultdict


def pytest_terminal_summary(terminalreporter):
    per_file = defaultdict(float)
    worker_of = {}
    for reports in terminalreporter.stats.values():
        for rep in reports:
            nodeid = getattr(rep, "nodeid", None)
            duration = getattr(rep, "duration", None)
            if not nodeid or duration is None:
                continue
            path = nodeid.split("::", 1)[0]
            per_file[path] += duration
            node = getattr(rep, "node", None)
            gateway = getattr(node, "gateway", None)
            worker_of[path] = getattr(gateway, "id", None) or "main"
    if not per_file:
        return
    terminalreporter.section("time per test file")
    per_worker = defaultdict(float)
    for path, secs in sorted(per_file.items(), key=lambda kv: -kv[1]):
        per_worker[worker_of[path]] += secs
        if secs >= 10:
            terminalreporter.write_line("%8.1fs  %-5s %s" % (secs, worker_of[path], path))
    if len(per_worker) > 1:
        terminalreporter.write_line("per worker: " + ", ".join(
            "%s %.1fs" % kv for kv in sorted(per_worker.items())))
