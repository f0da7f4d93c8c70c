# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy runtime API: a small client (socket I/O only) and pure logic.

The client sends one command per connection and returns the raw reply. Everything
else here is a pure function on strings and dicts, so it is unit-tested against
output captured from a real HAProxy 2.6 (tests/unit/fixtures/haproxy/).
"""
from __future__ import annotations

import socket
import time

# srv_admin_state bits (HAProxy src/server.h, SRV_ADMF_*)
ADMF_FMAINT = 0x01   # forced maintenance (CLI / stats page)
ADMF_IMAINT = 0x02   # inherited maintenance (tracked server)
ADMF_CMAINT = 0x04   # maintenance from the configuration ("disabled")
ADMF_FDRAIN = 0x08   # forced drain
ADMF_IDRAIN = 0x10   # inherited drain
ADMF_RMAINT = 0x20   # maintenance because of a DNS resolution failure
ADMF_HMAINT = 0x40   # maintenance because of a hostname change
MAINT_MASK = ADMF_FMAINT | ADMF_IMAINT | ADMF_CMAINT | ADMF_RMAINT | ADMF_HMAINT

STATES = ("ready", "drain", "maint")
CHECK_OK = ("L4OK", "L6OK", "L7OK", "L7OKC")

# Replies of the runtime API that mean "refused" although the socket exchange worked.
KNOWN_ERRORS = {
    "Permission denied": "the stats socket refused the command (Permission denied): it needs "
                         "'level admin' on the 'stats socket' line (option socket)",
    "No such server.": "no such server (option server)",
    "No such backend.": "no such backend (option backend)",
    "No such proxy.": "no such backend (option backend)",
    "Can't find backend.": "no such backend (option backend)",
}


class HAProxyError(Exception):
    """A failure talking to HAProxy, with a message naming the option at fault."""


def name_problem(value, option, what="name", empty_ok=False):
    """Why value cannot be (the start of) a backend or server name in a runtime-API command,
    or None. ';' separates commands there (a name must never smuggle in a second one), and a
    space ends an argument."""
    text = value or ""
    if (not text and not empty_ok) or any(c.isspace() or c == ";" for c in text):
        return "option %s must be a %s%s without spaces or ';', got %r" % (
            option, "" if empty_ok else "non-empty ", what, value)
    return None


# ---------------------------------------------------------------- client (I/O)
class RuntimeClient:
    """One runtime-API command per connection, over a unix socket or TCP host:port."""

    def __init__(self, address: str, timeout: float = 10.0):
        self.address = address
        self.timeout = timeout

    def _connect(self):
        addr = self.address
        if addr.startswith("unix@"):
            addr = addr[5:]
        try:
            if addr.startswith("/"):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(self.timeout)
                s.connect(addr)
            else:
                if addr.startswith("tcp@"):
                    addr = addr[4:]
                host, sep, port = addr.rpartition(":")
                if not sep or not port.isdigit():
                    raise HAProxyError("socket %r is neither an absolute unix socket path nor "
                                       "host:port (option socket)" % self.address)
                s = socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout)
        except PermissionError as e:
            raise HAProxyError("cannot open the stats socket %s: %s; the module must run as a "
                               "user allowed to use it (option socket)" % (self.address, e))
        except OSError as e:
            raise HAProxyError("cannot connect to the stats socket %s: %s; is HAProxy running "
                               "and is the path right? (option socket)" % (self.address, e))
        return s

    def command(self, cmd: str) -> str:
        s = self._connect()
        try:
            s.sendall(cmd.encode() + b"\n")
            s.shutdown(socket.SHUT_WR)     # one command per connection: end of input
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except OSError as e:
            raise HAProxyError("stats socket %s failed during %r: %s (option socket)"
                               % (self.address, cmd, e))
        finally:
            s.close()
        return b"".join(chunks).decode("utf-8", "replace")


# ---------------------------------------------------------------- parsing (pure)
def reply_error(reply: str):
    """The message for a refusal, or None if the reply is not a known error."""
    first = reply.strip().splitlines()[0].strip() if reply.strip() else ""
    return KNOWN_ERRORS.get(first)


def check_set_reply(cmd: str, reply: str) -> None:
    """`set ...` commands answer nothing on success; anything else is a failure."""
    if not reply.strip():
        return
    known = reply_error(reply)
    if known:
        raise HAProxyError("%s: %s" % (cmd, known))
    raise HAProxyError("unexpected reply from HAProxy to %r: %s" % (cmd, reply.strip()[:500]))


def parse_show_stat(text: str) -> list:
    """`show stat` CSV -> list of dicts keyed by the header's column names."""
    known = reply_error(text)
    if known:
        raise HAProxyError("show stat: " + known)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("# "):
        raise HAProxyError("unexpected reply from HAProxy to 'show stat': %s" % text.strip()[:500])
    header = lines[0][2:].rstrip(",").split(",")
    rows = []
    for ln in lines[1:]:
        cells = ln.split(",")
        rows.append({k: (cells[i] if i < len(cells) else "") for i, k in enumerate(header)})
    return rows


def parse_servers_state(text: str) -> list:
    """`show servers state` (format version 1) -> list of dicts."""
    known = reply_error(text)
    if known:
        raise HAProxyError("show servers state: " + known)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2 or lines[0].strip() != "1" or not lines[1].startswith("# "):
        raise HAProxyError("unexpected reply from HAProxy to 'show servers state': %s"
                           % text.strip()[:500])
    header = lines[1][2:].split()
    return [dict(zip(header, ln.split())) for ln in lines[2:]]


def combined_command(backend=None) -> str:
    """Both reads in one line: HAProxy runs `;`-separated commands on one connection."""
    if backend:
        return "show stat %s 4 -1;show servers state %s" % (backend, backend)
    return "show stat -1 4 -1;show servers state"


def split_combined(text: str, backend=None):
    """Split the reply of combined_command(backend) into (show stat text, show servers state
    text).

    Every reply ends with an empty line. `show servers state` starts with its format
    version line `1` followed by `# be_id ...`; errors (`No such proxy.`, `Can't find
    backend.`, `Permission denied`) are single lines.
    """
    lines = text.splitlines()
    for i in range(len(lines) - 1):
        if lines[i].strip() == "1" and lines[i + 1].startswith("# be_id"):
            return "\n".join(lines[:i]).strip("\n") + "\n", "\n".join(lines[i:]) + "\n"
    # No servers-state block: split at the first empty line after some content.
    blocks, cur = [], []
    for ln in lines:
        if ln.strip():
            cur.append(ln)
        elif cur:
            blocks.append("\n".join(cur))
            cur = []
    if cur:
        blocks.append("\n".join(cur))
    if len(blocks) >= 2:
        return blocks[0] + "\n", "\n".join(blocks[1:]) + "\n"
    raise HAProxyError("unexpected reply from HAProxy to %r: %s"
                       % (combined_command(backend), text.strip()[:500] or "(nothing)"))


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def admin_state(flags: int) -> str:
    if flags & ADMF_FMAINT:
        return "maint"
    if flags & ADMF_FDRAIN:
        return "drain"
    return "ready"


def server_view(stat_rows: list, state_rows: list, backend: str, server: str) -> dict:
    """The fields the module compares and returns, for one server."""
    stat = next((r for r in stat_rows if r.get("pxname") == backend and r.get("svname") == server),
                None)
    st = next((r for r in state_rows if r.get("be_name") == backend and r.get("srv_name") == server),
              None)
    if stat is None or st is None:
        names = sorted(r["svname"] for r in stat_rows
                       if r.get("pxname") == backend
                       and r.get("svname") not in ("FRONTEND", "BACKEND"))
        raise HAProxyError("no server %r in backend %r (option server); servers there: %s"
                           % (server, backend, ", ".join(names) or "none"))
    flags = _int(st.get("srv_admin_state"))
    check = stat.get("check_status", "")
    return {
        "status": stat.get("status", ""),
        "admin_state": admin_state(flags),
        "admin_flags": flags,
        "weight": _int(st.get("srv_uweight")),
        "effective_weight": _int(stat.get("weight")),
        "scur": _int(stat.get("scur")),
        "check_status": check[2:] if check.startswith("* ") else check,
        "check_running": check.startswith("* "),
        "address": stat.get("addr", ""),
    }


# ---------------------------------------------------------------- decisions (pure)
def plan(current: dict, backend: str, server: str, state=None, weight=None):
    """Commands to send and the predicted view afterwards."""
    cmds = []
    after = dict(current)
    if state is not None and current["admin_state"] != state:
        cmds.append("set server %s/%s state %s" % (backend, server, state))
        after["admin_state"] = state
    if weight is not None and current["weight"] != weight:
        cmds.append("set weight %s/%s %d" % (backend, server, weight))
        after["weight"] = weight
    return cmds, after


def compared(view: dict) -> dict:
    """The fields whose change makes `changed` true (and go into diff)."""
    return {"admin_state": view["admin_state"], "weight": view["weight"]}


def is_up(view: dict) -> bool:
    """UP with a passing check, or a server without checks. `UP 1/2` is not up."""
    if view["admin_state"] == "maint":
        return False
    if view["status"] == "no check":
        return True
    return view["status"] == "UP" and view["check_status"] in CHECK_OK


def is_down(view: dict) -> bool:
    return view["status"] == "DOWN" or view["status"].startswith("DOWN ") \
        or view["status"].startswith("MAINT")


def drained(view: dict) -> bool:
    """Nothing left to wait for: no sessions, or the server is down (sessions are gone)."""
    return view["scur"] == 0 or is_down(view)


def wait_done(view: dict, state: str) -> bool:
    if state == "ready":
        return is_up(view)
    return drained(view)


def all_done(views: dict, targets: dict) -> bool:
    """wait_done for every server of a {name: view} mapping, each against its target state."""
    return all(wait_done(views[name], state) for name, state in targets.items())


def wait_all(fetch, targets: dict, timeout: float, interval: float, clock=time.monotonic,
             sleep=time.sleep):
    """Like wait_for, for several servers: fetch() returns {name: view} (one poll reads
    every server), targets is {name: state}."""
    deadline = clock() + timeout
    polls = 0
    while True:
        views = fetch()
        polls += 1
        if all_done(views, targets):
            return views, True, polls
        if clock() >= deadline:
            return views, False, polls
        sleep(max(0.0, min(interval, deadline - clock())))


def wait_for(fetch, state: str, timeout: float, interval: float, clock=time.monotonic,
             sleep=time.sleep):
    """Poll fetch() until wait_done; never longer than timeout. Returns (view, done, polls)."""
    views, done, polls = wait_all(lambda: {"": fetch()}, {"": state}, timeout, interval,
                                  clock=clock, sleep=sleep)
    return views[""], done, polls


# ---------------------------------------------------------------- one step (I/O through client)
def fetch_views(client, backend: str, names: list) -> dict:
    """One read of the backend for every named server: {name: view}. One exchange: both
    commands on one connection."""
    stat_text, state_text = split_combined(client.command(combined_command(backend)), backend)
    stat = parse_show_stat(stat_text)
    state = parse_servers_state(state_text)
    return {name: server_view(stat, state, backend, name) for name in names}


def run_step(client, backend: str, names: list, state=None, weight=None, shutdown_sessions=False,
             wait=False, wait_timeout=60, wait_interval=1.0, check_mode=False,
             clock=time.monotonic, sleep=time.sleep) -> dict:
    """Set the named servers to a state and/or weight and optionally wait for them.

    Returns {"views": {name: {"before", "after"}}, "commands": [...], "waited": s,
    "late": [names not done when wait_timeout ran out], "targets": {name: state}}.
    In check mode nothing is sent and "after" is the prediction. Raises HAProxyError."""
    before = fetch_views(client, backend, names)
    commands, views = [], {}
    for name in names:
        cmds, predicted = plan(before[name], backend, name, state=state, weight=weight)
        commands.extend(cmds)
        views[name] = {"before": before[name], "after": predicted}
    out = {"views": views, "commands": commands, "waited": 0.0, "late": [], "targets": {}}
    if check_mode:
        return out
    for cmd in list(commands):
        check_set_reply(cmd, client.command(cmd))
    if shutdown_sessions:
        for name in names:
            cmd = "shutdown sessions server %s/%s" % (backend, name)
            commands.append(cmd)
            check_set_reply(cmd, client.command(cmd))
    if wait:
        # servers without a state change wait for their current state's condition
        targets = {name: state or views[name]["after"]["admin_state"] for name in names}
        t0 = clock()
        after, _done, _polls = wait_all(lambda: fetch_views(client, backend, names), targets,
                                        wait_timeout, wait_interval, clock=clock, sleep=sleep)
        out["waited"] = round(clock() - t0, 2)
        out["targets"] = targets
        out["late"] = [n for n in names if not wait_done(after[n], targets[n])]
    else:
        after = fetch_views(client, backend, names)
    for name in names:
        views[name]["after"] = after[name]
    return out


def late_message(backend: str, step: dict, wait_timeout, option="wait_timeout") -> str:
    """Why a step's wait failed, naming the servers and the option."""
    late, targets = step["late"], step["targets"]
    after = {n: v["after"] for n, v in step["views"].items()}
    return "%s not %s within %ss (option %s): %s" % (
        "server" if len(late) == 1 else "servers",
        "UP with a passing health check" if all(targets[n] == "ready" for n in late)
        else "drained" if all(targets[n] != "ready" for n in late) else "done",
        wait_timeout, option,
        "; ".join("%s/%s status %r, check %r, %d sessions" % (
            backend, n, after[n]["status"], after[n]["check_status"], after[n]["scur"])
            for n in late))
