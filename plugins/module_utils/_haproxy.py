# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy runtime API: a small client (socket I/O only) and pure logic.

The client sends one command line per connection (several commands joined with `;` run on
that one connection) and returns the raw reply. Everything else here is a pure function on
strings and dicts, so it is unit-tested against output captured from a real HAProxy 2.6
(tests/unit/fixtures/haproxy/).
"""
from __future__ import annotations

import csv
import re
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
# What `set server B/S state X` leaves of the forced bits (checked on HAProxy 2.6.12: drain
# clears forced maintenance, maint clears forced drain, ready clears both; the others stay).
STATE_BITS = {"ready": 0, "drain": ADMF_FDRAIN, "maint": ADMF_FMAINT}

STATES = ("ready", "drain", "maint")
CHECK_OK = ("L4OK", "L6OK", "L7OK", "L7OKC")
LEVELS = ("user", "operator", "admin")
# `show stat`'s algo column (BACKEND row). static-rr never takes a weight other than 0 or the
# initial one; the hashing algorithms neither, unless `hash-type consistent`, which the
# runtime API does not show.
STATIC_ALGOS = ("static-rr",)
HASH_ALGOS = ("source", "uri", "url_param", "hdr", "rdp-cookie", "hash")
STATIC_WEIGHT_REPLY = "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'."

# Replies of the runtime API that mean "refused" although the socket exchange worked.
# %(server)s: the option that named the server (server, servers or then.servers).
KNOWN_ERRORS = {
    "Permission denied": "the stats socket refused the command (Permission denied): it needs "
                         "'level admin' on the 'stats socket' line (option socket)",
    "No such server.": "no such server (option %(server)s)",
    "No such backend.": "no such backend (option backend)",
    "No such proxy.": "no such backend (option backend)",
    "Can't find backend.": "no such backend (option backend)",
    STATIC_WEIGHT_REPLY: "HAProxy refused the weight: the backend balances with a static "
                         "algorithm, which takes only weight 0 or the server's initial weight "
                         "(0%% or 100%%) (option weight)",
    "Absolute weight can only be between 0 and 256 inclusive.":
        "HAProxy refused the weight: it must be between 0 and 256 (option weight)",
}


class HAProxyError(Exception):
    """A failure talking to HAProxy, with a message naming the option at fault."""


class SocketError(HAProxyError):
    """The stats socket could not be used (connect, send or receive failed): no reply at all.
    `reason`: the system's error text; `errno`: its number (None if unknown)."""

    def __init__(self, msg, reason="", errno=None):
        super().__init__(msg)
        self.reason = reason
        self.errno = errno


class StepError(HAProxyError):
    """A step failed after it may have changed something. `sent`: the commands HAProxy
    accepted before the failure; `views`: {name: {before, after}} as far as known."""

    def __init__(self, msg, sent, views):
        super().__init__(msg)
        self.sent = list(sent)
        self.views = views


def name_problem(value, option, what="name", empty_ok=False):
    """Why value cannot be (the start of) a backend or server name in a runtime-API command,
    or None. ';' separates commands there (a name must never smuggle in a second one), and a
    space ends an argument."""
    text = value or ""
    if (not text and not empty_ok) or any(c.isspace() or c == ";" for c in text):
        return "option %s must be a %s%s without spaces or ';', got %r" % (
            option, "" if empty_ok else "non-empty ", what, value)
    return None


def parse_weight(value):
    """Option weight -> ("abs", n) or ("pct", p), or raise ValueError naming the option.

    An integer 0-256 (an int, or a string of digits), or a percentage of the server's
    initial weight ("50%"), as HAProxy's `set weight` takes it."""
    why = "option weight must be an integer between 0 and 256 or a percentage of the " \
          "initial weight such as '50%%', got %r" % (value,)
    if isinstance(value, bool) or value is None:
        raise ValueError(why)
    if isinstance(value, int):
        if not 0 <= value <= 256:
            raise ValueError(why)
        return ("abs", value)
    if not isinstance(value, str):
        raise ValueError(why)
    text = value.strip()
    m = re.fullmatch(r"(\d{1,7})(%?)", text)
    if not m:
        raise ValueError(why)
    number = int(m.group(1))
    if m.group(2):
        return ("pct", number)
    if number > 256:
        raise ValueError(why)
    return ("abs", number)


def weight_value(spec, view) -> int:
    """The absolute weight a parse_weight() spec means for a server: a percentage is of its
    initial weight, rounded down, at most 256 (as HAProxy computes it)."""
    kind, number = spec
    if kind == "abs":
        return number
    return min(256, view["initial_weight"] * number // 100)


# ---------------------------------------------------------------- client (I/O)
class RuntimeClient:
    """One runtime-API command line per connection, over a unix socket or TCP host:port."""

    def __init__(self, address: str, timeout: float = 10.0):
        self.address = address
        self.timeout = timeout

    def _connect(self):
        addr = self.address
        if addr.startswith("unix@"):
            addr = addr[5:]
        if not addr.startswith("/"):
            if addr.startswith("tcp@"):
                addr = addr[4:]
            host, sep, port = addr.rpartition(":")
            if not sep or not port.isdigit():
                raise HAProxyError("socket %r is neither an absolute unix socket path nor "
                                   "host:port (option socket)" % self.address)
        try:
            if addr.startswith("/"):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(self.timeout)
                try:
                    s.connect(addr)
                except OSError:
                    s.close()
                    raise
            else:
                s = socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout)
        except PermissionError as e:
            raise SocketError("cannot open the stats socket %s: %s; the module must run as a "
                              "user allowed to use it (option socket)" % (self.address, e), str(e), e.errno)
        except OSError as e:
            raise SocketError("cannot connect to the stats socket %s: %s; is HAProxy running "
                              "and is the path right? (option socket)" % (self.address, e), str(e), e.errno)
        return s

    def command(self, cmd: str) -> str:
        s = self._connect()
        try:
            s.sendall(cmd.encode() + b"\n")
            s.shutdown(socket.SHUT_WR)     # one command line per connection: end of input
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except OSError as e:
            raise SocketError("stats socket %s failed during %r: %s (option socket)"
                              % (self.address, cmd, e), str(e), e.errno)
        finally:
            s.close()
        return b"".join(chunks).decode("utf-8", "replace")


# ---------------------------------------------------------------- parsing (pure)
def reply_error(reply: str, server_option="server"):
    """The message for a refusal, or None if the reply is not a known error."""
    first = reply.strip().splitlines()[0].strip() if reply.strip() else ""
    known = KNOWN_ERRORS.get(first)
    return known % {"server": server_option} if known else None


def check_set_reply(cmd: str, reply: str, server_option="server") -> None:
    """`set ...` and `shutdown ...` commands answer nothing on success; anything else is a
    failure."""
    if not reply.strip():
        return
    known = reply_error(reply, server_option)
    if known:
        raise HAProxyError("%s: %s" % (cmd, known))
    raise HAProxyError("unexpected reply from HAProxy to %r: %s" % (cmd, reply.strip()[:500]))


def parse_show_stat(text: str) -> list:
    """`show stat` CSV -> list of dicts keyed by the header's column names.

    A real CSV: HAProxy quotes a field that holds a comma (a check's reason such as
    `"Busy, try later"`)."""
    known = reply_error(text)
    if known:
        raise HAProxyError("show stat: " + known)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("# "):
        raise HAProxyError("unexpected reply from HAProxy to 'show stat': %s" % text.strip()[:500])
    header = next(csv.reader([lines[0][2:]]))
    while header and not header[-1]:
        header.pop()
    rows = []
    for cells in csv.reader(lines[1:]):
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


def read_command(backend=None, level=False, info=False, backend_rows=False) -> str:
    """One line of reads, run on one connection: optionally `show cli level` (the socket's
    level) and `show info` (the process: its Pid), then `show stat` (servers, and with
    backend_rows the BACKEND rows, which hold the balance algorithm) and `show servers
    state`, of one backend or of all."""
    kinds = 6 if backend_rows else 4
    parts = (["show cli level"] if level else []) + (["show info"] if info else [])
    if backend:
        parts += ["show stat %s %d -1" % (backend, kinds), "show servers state %s" % backend]
    else:
        parts += ["show stat -1 %d -1" % kinds, "show servers state"]
    return ";".join(parts)


def combined_command(backend=None) -> str:
    """Both reads in one line: HAProxy runs `;`-separated commands on one connection."""
    return read_command(backend)


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


def _leading_replies(text: str, count: int, cmd: str):
    """The first `count` replies of a `;` line (each is a block of lines ended by an empty
    line) and the text after them."""
    lines = text.splitlines()
    blocks, i = [], 0
    while len(blocks) < count:
        while i < len(lines) and not lines[i].strip():
            i += 1
        start = i
        while i < len(lines) and lines[i].strip():
            i += 1
        if start == i:
            raise HAProxyError("unexpected reply from HAProxy to %r: %s"
                               % (cmd, text.strip()[:500] or "(nothing)"))
        blocks.append(lines[start:i])
    return blocks, "\n".join(lines[i:]) + "\n"


def parse_info(lines) -> dict:
    """`show info` lines -> {key: value}."""
    out = {}
    for ln in lines:
        key, sep, value = ln.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def process_of(info: dict):
    """The identity of the process that answered (its Pid and start time), or None."""
    if not info.get("Pid"):
        return None
    return "%s@%s" % (info["Pid"], info.get("Start_time_sec", "?"))


def parse_read(text: str, backend=None, level=False, info=False, backend_rows=False) -> dict:
    """Reply of read_command(...) -> {"level": "admin"|"operator"|"user"|None (not known),
    "process": process_of() or None, "stat": server rows, "state": servers-state rows,
    "algos": {backend: balance algorithm} (with backend_rows)}."""
    cmd = read_command(backend, level, info, backend_rows)
    blocks, rest = _leading_replies(text, int(level) + int(info), cmd)
    out = {"level": None, "process": None, "algos": {}}
    if level:
        word = blocks.pop(0)[0].strip()
        known = reply_error(word)
        if known:
            raise HAProxyError("show cli level: " + known)
        out["level"] = word if word in LEVELS else None   # older HAProxy: unknown command
    if info:
        out["process"] = process_of(parse_info(blocks.pop(0)))
    stat_text, state_text = split_combined(rest, backend)
    rows = parse_show_stat(stat_text)
    out["stat"] = [r for r in rows if r.get("svname") not in ("BACKEND", "FRONTEND")]
    out["algos"] = {r.get("pxname"): r.get("algo", "") for r in rows if r.get("svname") == "BACKEND"}
    out["state"] = parse_servers_state(state_text)
    return out


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


def address_of(stat_row: dict, state_row) -> str:
    """addr:port from `show stat` (empty on a socket below level operator), else from
    `show servers state`; "" while unknown (a DNS name not resolved yet)."""
    addr = (stat_row or {}).get("addr", "")
    if addr:
        return addr
    st = state_row or {}
    if st.get("srv_addr") not in (None, "", "-") and st.get("srv_port") not in (None, "", "-", "0"):
        return "%s:%s" % (st["srv_addr"], st["srv_port"])
    return ""


def backends_holding(stat_rows: list, names: list) -> list:
    """Backends (in HAProxy's order) that have a server of every name."""
    have = {}
    for r in stat_rows:
        have.setdefault(r.get("pxname"), set()).add(r.get("svname"))
    return [b for b, servers in have.items() if set(names) <= servers]


def server_view(stat_rows: list, state_rows: list, backend: str, server: str,
                option: str = "server") -> dict:
    """The fields the module compares and returns, for one server."""
    stat = next((r for r in stat_rows if r.get("pxname") == backend and r.get("svname") == server),
                None)
    st = next((r for r in state_rows if r.get("be_name") == backend and r.get("srv_name") == server),
              None)
    if stat is None or st is None:
        names = sorted(r["svname"] for r in stat_rows
                       if r.get("pxname") == backend
                       and r.get("svname") not in ("FRONTEND", "BACKEND"))
        raise HAProxyError("no server %r in backend %r (option %s); servers there: %s"
                           % (server, backend, option, ", ".join(names) or "none"))
    flags = _int(st.get("srv_admin_state"))
    check = stat.get("check_status", "")
    return {
        "status": stat.get("status", ""),
        "admin_state": admin_state(flags),
        "admin_flags": flags,
        "weight": _int(st.get("srv_uweight")),
        "initial_weight": _int(st.get("srv_iweight"), _int(st.get("srv_uweight"))),
        "effective_weight": _int(stat.get("weight")),
        "scur": _int(stat.get("scur")),
        "check_status": check[2:] if check.startswith("* ") else check,
        "check_running": check.startswith("* "),
        "tracked": stat.get("tracked", ""),
        "address": address_of(stat, st),
    }


# ---------------------------------------------------------------- decisions (pure)
def plan(current: dict, backend: str, server: str, state=None, weight=None,
         shutdown_sessions=False):
    """(commands to send, the predicted view afterwards). weight: the absolute weight.

    Commands in this order: the weight (HAProxy may refuse it on a static algorithm: it goes
    before anything else changed), the state, `shutdown sessions` (only for a server that has
    sessions to shut, scur > 0)."""
    groups = plan_groups(current, backend, server, state, weight, shutdown_sessions)
    return groups["weight"] + groups["state"] + groups["shutdown"], groups["after"]


def plan_groups(current, backend, server, state=None, weight=None, shutdown_sessions=False):
    """plan() as {"weight": [...], "state": [...], "shutdown": [...], "after": view}."""
    after = dict(current)
    out = {"weight": [], "state": [], "shutdown": [], "after": after}
    if weight is not None and current["weight"] != weight:
        out["weight"].append("set weight %s/%s %d" % (backend, server, weight))
        after["weight"] = weight
    if state is not None and current["admin_state"] != state:
        out["state"].append("set server %s/%s state %s" % (backend, server, state))
        after["admin_state"] = state
        after["admin_flags"] = (current["admin_flags"] & ~(ADMF_FMAINT | ADMF_FDRAIN)) \
            | STATE_BITS[state]
    if shutdown_sessions and current["scur"] > 0:
        out["shutdown"].append("shutdown sessions server %s/%s" % (backend, server))
    return out


def _applied(view, backend, server, sent):
    """view with the effect of the commands of sent that are this server's."""
    after = dict(view)
    for cmd in sent:
        words = cmd.split()
        if cmd.startswith("set weight %s/%s " % (backend, server)):
            after["weight"] = int(words[-1])
        elif cmd.startswith("set server %s/%s state " % (backend, server)):
            after = plan_groups(after, backend, server, state=words[-1])["after"]
    return after


def weight_refusal(algo: str, view: dict, weight):
    """("fail", why) when HAProxy will refuse this weight (static-rr), ("warn", why) when it
    may (a hashing algorithm: static unless hash-type consistent, which the runtime API does
    not show), else None."""
    if weight is None or weight == view["weight"] or weight in (0, view["initial_weight"]):
        return None
    algo = (algo or "").strip()
    base = algo.split("(", 1)[0]
    what = "the backend balances with %s, a static algorithm: HAProxy takes only weight 0 " \
           "or the server's initial weight %d (0%% or 100%%), not %d" % (
               algo, view["initial_weight"], weight)
    if base in STATIC_ALGOS:
        return "fail", what
    if base in HASH_ALGOS:
        return "warn", ("the backend balances with %s: with hash-type map-based (the default) "
                        "HAProxy takes only weight 0 or the server's initial weight %d, not %d; "
                        "with hash-type consistent any weight (the runtime API does not say "
                        "which)" % (algo, view["initial_weight"], weight))
    return None


def compared(view: dict) -> dict:
    """The fields whose change makes `changed` true (and go into diff)."""
    return {"admin_state": view["admin_state"], "weight": view["weight"]}


def stale_health(view: dict) -> bool:
    """Whether HAProxy's health of a server may still come from checks of the container it
    replaced: it has checks of its own (not `no check`, not tracking another server) and is not
    DOWN already. While a replica is drained HAProxy keeps checking the old container, so right
    after the replacement it is still UP (fall 2: about 2 s to notice the old one is gone), and
    a ready step would accept a new container that never answered."""
    status = view.get("status") or ""
    return status not in ("no check", "DOWN") and not view.get("tracked")


def recheck_commands(backend: str, views: dict) -> list:
    """`set server <backend>/<name> health down` for each server of views ({name: view}) whose
    health may be stale (stale_health): HAProxy then needs `rise` passing checks made from now
    before the server is UP again. None for a server without checks of its own (nothing would
    bring it back up)."""
    return ["set server %s/%s health down" % (backend, name)
            for name, view in views.items() if stale_health(view)]


def is_up(view: dict) -> bool:
    """In service: admin state ready, and UP with a passing check of its own, UP while it
    tracks another server (no check of its own: `track`), or without checks (`no check`).
    `UP 1/2` (going down) and `DOWN 1/2` (going up) are not up. The one rule of
    haproxy_server's wait and of the replicas_not_ready filter (haproxy_info rows)."""
    if view.get("admin_state") != "ready":
        return False
    status = view.get("status", "")
    if status == "no check":
        return True
    if status != "UP":
        return False
    check = view.get("check_status") or ""
    return check in CHECK_OK or (bool(view.get("tracked")) and not check)


def drained(view: dict) -> bool:
    """No sessions left. Also for a DOWN or MAINT server: HAProxy closes no session when a
    server goes DOWN (unless `on-marked-down shutdown-sessions`) or into maintenance."""
    return view["scur"] == 0


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
def fetch_views(client, backend: str, names: list, option="server") -> dict:
    """One read of the backend for every named server: {name: view}. One exchange: both
    commands on one connection."""
    stat_text, state_text = split_combined(client.command(combined_command(backend)), backend)
    stat = parse_show_stat(stat_text)
    state = parse_servers_state(state_text)
    return {name: server_view(stat, state, backend, name, option) for name in names}


def fetch_watched(client, backend: str, names: list, option="server"):
    """fetch_views with `show info` in the same exchange: ({name: view}, process)."""
    read = parse_read(client.command(read_command(backend, info=True)), backend, info=True)
    return ({name: server_view(read["stat"], read["state"], backend, name, option)
             for name in names}, read["process"])


def run_step(client, backend: str, names: list, state=None, weight=None, shutdown_sessions=False,
             wait=False, wait_timeout=60, wait_interval=1.0, check_mode=False,
             clock=time.monotonic, sleep=time.sleep, before=None, option="server",
             process=None) -> dict:
    """Set the named servers to a state and/or weight and optionally wait for them.

    weight: an absolute weight for all, or {name: weight}. before: {name: view} of a read
    just made (else the step reads first). process: the HAProxy process of that read
    (parse_read); given, every poll of the wait reads `show info` too and a change of process
    (a reload) is reported. option: the option that named the servers, for messages.

    Returns {"views": {name: {"before", "after"}}, "commands": [...], "waited": s,
    "late": [names not done when wait_timeout ran out], "targets": {name: state},
    "reloaded": [processes seen after the first]}. In check mode nothing is sent and "after"
    is the prediction. Raises HAProxyError before anything was sent, StepError after."""
    if before is None:
        before = fetch_views(client, backend, names, option)
    weights = weight if isinstance(weight, dict) else {name: weight for name in names}
    groups = {"weight": [], "state": [], "shutdown": []}
    views = {}
    for name in names:
        g = plan_groups(before[name], backend, name, state=state, weight=weights.get(name),
                        shutdown_sessions=shutdown_sessions)
        for kind in groups:
            groups[kind].extend(g[kind])
        views[name] = {"before": before[name], "after": g["after"]}
    commands = groups["weight"] + groups["state"] + groups["shutdown"]
    out = {"views": views, "commands": commands, "waited": 0.0, "late": [], "targets": {},
           "reloaded": []}
    if check_mode:
        return out
    sent = []
    for cmd in commands:
        try:
            check_set_reply(cmd, client.command(cmd), option)
        except HAProxyError as exc:
            for name in names:   # "after": before, with what HAProxy accepted
                views[name]["after"] = _applied(before[name], backend, name, sent)
            raise StepError(str(exc), sent, views) from exc
        sent.append(cmd)
    # servers without a state change wait for their current state's condition
    targets = {name: state or views[name]["after"]["admin_state"] for name in names}
    seen = {"views": None}    # the last read after the commands, if any
    try:
        if wait and (sent or not all_done(before, targets)):
            def fetch():
                if process is None:
                    seen["views"] = fetch_views(client, backend, names, option)
                else:
                    seen["views"], now = fetch_watched(client, backend, names, option)
                    if now and now != process and now not in out["reloaded"]:
                        out["reloaded"].append(now)
                return seen["views"]
            t0 = clock()
            after, _done, _polls = wait_all(fetch, targets, wait_timeout, wait_interval,
                                            clock=clock, sleep=sleep)
            out["waited"] = round(clock() - t0, 2)
        elif sent:
            after = fetch_views(client, backend, names, option)
        else:
            after = before   # nothing sent, nothing to wait for: the read just made
    except HAProxyError as exc:
        for name in names:
            if seen["views"] is not None:
                views[name]["after"] = seen["views"][name]
        raise StepError(str(exc), sent, views) from exc
    if wait:
        out["targets"] = targets
        out["late"] = [n for n in names if not wait_done(after[n], targets[n])]
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
