"""The order the test files run in, and their time per file and worker, printed at the end.

CI runs the files on three workers, a file staying on one (`--dist loadfile`): the run takes as
long as the busier worker. A worker that is free takes the next file in the collection's order,
so the longest files go first and the short ones fill the end (tools/test passes
--no-loadscope-reorder: pytest-xdist would otherwise order the files by their number of tests,
which put files of three tests and three minutes last). The summary says how the files fell
between the workers."""
import os
from collections import defaultdict

# The longest files, longest first (seconds per file in a whole `.ci/run` on three workers,
# 2026-12-07: 900, 663, 576, 407, 261, 217, 213, 211, 202, 201, 189, 171, 152, 140, 129, 105,
# 98, 96, 84). The other integration files follow in their usual order, then the unit tests
# (a few seconds in all). A file missing here only runs later than it might.
LONGEST_FIRST = (
    "test_haproxy", "test_rollout", "test_container", "test_service", "test_network_volume",
    "test_nonroot", "test_molecule", "test_bad_input", "test_image", "test_faults_engine",
    "test_scale", "test_role_args", "test_faults", "test_status_callback", "test_copy_into",
    "test_prune", "test_tls", "test_pull", "test_exec",
)


def pytest_collection_modifyitems(items):
    def rank(item):
        path = item.nodeid.split("::", 1)[0]
        name = os.path.splitext(os.path.basename(path))[0]
        if "integration" in path.split("/") and name in LONGEST_FIRST:
            return LONGEST_FIRST.index(name)
        return len(LONGEST_FIRST) + (0 if "integration" in path.split("/") else 1)
    items.sort(key=rank)   # stable: a file's tests keep their order


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
