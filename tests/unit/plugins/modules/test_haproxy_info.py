# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_info logic on replies captured from HAProxy 2.6.12 (Debian 12) for
`show stat ... 4 -1;show servers state ...` sent on one connection. In the capture
app1-1 has weight 5, app1-2 is drained, app2-1 is in maintenance and backend
`other` has a server without checks."""
from __future__ import annotations

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import HAProxyError
from ansible_collections.dockyard.fleet.plugins.module_utils import _haproxy as ha
from ansible_collections.dockyard.fleet.plugins.module_utils import _haproxy_info as hi

COMBINED_ALL = (
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,'
    'chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,'
    'check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,'
    'req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,'
    'agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,'
    'agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,'
    'cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,'
    'used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,'
    'ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,'
    'h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,'
    'h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,'
    'h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,\n'
    'app,app1-1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,5,1,0,1,1,3,13,,1,3,1,,0,,2,0,,0,L7OK,200,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,'
    '0,0,,,,Layer7 check passed,,2,2,3,,,,,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,5,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n'
    'app,app1-2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DRAIN,1,1,0,1,1,0,12,,1,3,2,,0,,2,0,,0,L7OK,200,1,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,'
    '0,0,0,,,,Layer7 check passed,,2,2,3,,,,,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n'
    'app,app2-1,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,1,2,0,11,,1,3,3,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,'
    ',,,,,,,,,,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n'
    'other,o1,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,16,,,1,4,1,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,'
    ',,,,,,,,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n'
    '\n'
    '1\n'
    '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight '
    'srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state '
    'bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr '
    'srv_agent_port\n'
    '3 app 1 app1-1 10.77.4.11 2 0 5 1 3 15 3 3 6 0 0 0 - 8181 - 0 0 - - 0\n'
    '3 app 2 app1-2 10.77.4.11 2 8 1 1 0 15 3 3 6 0 0 0 - 8182 - 0 0 - - 0\n'
    '3 app 3 app2-1 10.77.4.12 0 1 1 1 0 15 3 0 14 0 0 0 - 8181 - 0 0 - - 0\n'
    '4 other 1 o1 10.77.4.13 2 0 1 1 16 1 0 2 0 0 0 0 - 8181 - 0 0 - - 0\n'
    '\n'
)

COMBINED_APP = (
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,'
    'chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,'
    'check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,'
    'req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,'
    'agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,'
    'agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,'
    'cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,'
    'used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,'
    'ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,'
    'h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,'
    'h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,'
    'h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,\n'
    'app,app1-1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,5,1,0,1,1,4,13,,1,3,1,,0,,2,0,,0,L7OK,200,5,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,'
    '0,0,,,,Layer7 check passed,,2,2,3,,,,,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,5,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n'
    'app,app1-2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DRAIN,1,1,0,1,1,1,12,,1,3,2,,0,,2,0,,0,L7OK,200,1,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,'
    '0,0,0,,,,Layer7 check passed,,2,2,3,,,,,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n'
    'app,app2-1,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,1,2,1,12,,1,3,3,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,'
    ',,,,,,,,,,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n'
    '\n'
    '1\n'
    '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight '
    'srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state '
    'bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr '
    'srv_agent_port\n'
    '3 app 1 app1-1 10.77.4.11 2 0 5 1 4 15 3 3 6 0 0 0 - 8181 - 0 0 - - 0\n'
    '3 app 2 app1-2 10.77.4.11 2 8 1 1 1 15 3 3 6 0 0 0 - 8182 - 0 0 - - 0\n'
    '3 app 3 app2-1 10.77.4.12 0 1 1 1 1 15 3 0 14 0 0 0 - 8181 - 0 0 - - 0\n'
    '\n'
)


def by_name(servers):
    return {s["server"]: s for s in servers}


def test_combined_command_is_one_line():
    assert ha.combined_command() == "show stat -1 4 -1;show servers state"
    assert ha.combined_command("app") == "show stat app 4 -1;show servers state app"


def test_split_combined():
    stat, state = ha.split_combined(COMBINED_ALL)
    assert stat.startswith("# pxname,svname")
    assert state.startswith("1\n# be_id")
    assert "be_id" not in stat and "pxname" not in state
    with pytest.raises(HAProxyError, match=r"to 'show stat app 4 -1;show servers state app': garbage"):
        ha.split_combined("garbage\n", "app")


def test_all_backends():
    servers = hi.parse_combined(COMBINED_ALL)
    assert [(s["backend"], s["server"]) for s in servers] == [
        ("app", "app1-1"), ("app", "app1-2"), ("app", "app2-1"), ("other", "o1")]
    s = by_name(servers)
    assert s["app1-1"] == {
        "backend": "app", "server": "app1-1", "status": "UP", "admin_state": "ready",
        "admin_flags": 0, "weight": 5, "effective_weight": 5, "scur": 0, "stot": 0,
        "check_status": "L7OK", "tracked": "", "addr": "10.77.4.11", "port": 8181, "fqdn": None}
    assert (s["app1-2"]["status"], s["app1-2"]["admin_state"]) == ("DRAIN", "drain")
    assert (s["app2-1"]["status"], s["app2-1"]["admin_state"]) == ("MAINT", "maint")
    assert s["app2-1"]["check_status"] == ""
    assert (s["o1"]["status"], s["o1"]["admin_state"], s["o1"]["port"]) == \
        ("no check", "ready", 8181)
    assert hi.backends_of(servers) == ["app", "other"]


def test_one_backend():
    servers = hi.parse_combined(COMBINED_APP, "app")
    assert [s["server"] for s in servers] == ["app1-1", "app1-2", "app2-1"]
    # the all-backends reply filtered gives the same servers
    assert [s["server"] for s in hi.parse_combined(COMBINED_ALL, "app")] == \
        ["app1-1", "app1-2", "app2-1"]


def test_missing_backend_names_option():
    with pytest.raises(HAProxyError, match=r"option backend"):
        hi.parse_combined("No such proxy.\n\nCan't find backend.\n\n", "nosuch")


def test_permission_denied_names_socket():
    with pytest.raises(HAProxyError, match=r"Permission denied.*option socket"):
        hi.parse_combined("Permission denied\n\nPermission denied\n\n")


@pytest.mark.parametrize("text", ["", "\n\n", "garbage\n"])
def test_unexpected_reply(text):
    with pytest.raises(HAProxyError, match=r"unexpected reply"):
        hi.parse_combined(text)


def test_empty_backend():
    text = ("# pxname,svname,qcur,qmax,scur,status\n\n1\n# be_id be_name srv_id srv_name "
            "srv_addr srv_op_state srv_admin_state srv_uweight\n\n")
    assert hi.parse_combined(text, "empty") == []


def test_check_in_progress_marker_and_address_fallback():
    text = ("# pxname,svname,scur,stot,status,weight,check_status,addr\n"
            "be,s1,2,9,UP 1/2,3,* L7STS,10.0.0.1:81\n\n"
            "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state "
            "srv_uweight srv_iweight\n\n")
    (s,) = hi.parse_combined(text)
    assert s["check_status"] == "L7STS" and s["status"] == "UP 1/2"
    assert (s["addr"], s["port"], s["scur"]) == ("10.0.0.1", 81, 2)
    assert s["admin_state"] is None and s["weight"] == 3


def _fixture(name):
    import os
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "haproxy", name)) as f:
        return f.read()


def test_unresolved_dns_server_returns_what_is_known():
    """Captured on HAProxy 2.6.12: a server `doesnotexist.invalid:80 resolvers lab init-addr
    none` has no address yet (srv_addr -, show stat addr empty) but a port and a name."""
    text = _fixture("read_all_admin.txt").split("\n\n", 2)[2]   # after show cli level, show info
    s = by_name(hi.parse_combined(text, "other"))
    assert (s["dns1"]["addr"], s["dns1"]["port"], s["dns1"]["fqdn"]) == \
        (None, 80, "doesnotexist.invalid")
    assert s["dns1"]["status"] == "MAINT (resolution)"
    assert (s["tracked"]["tracked"], s["tracked"]["fqdn"]) == ("app/app2-1", None)
    assert (s["wtd"]["addr"], s["wtd"]["port"]) == ("10.77.7.13", 8082)


def test_addresses_at_level_user():
    """show stat hides addresses at level user; show servers state has them."""
    text = _fixture("read_other_user.txt").split("\n\n", 2)[2]
    s = by_name(hi.parse_combined(text, "other"))
    assert (s["wtd"]["addr"], s["wtd"]["port"]) == ("10.77.7.13", 8082)


def test_check_reason_with_a_comma():
    text = _fixture("read_all_admin.txt").split("\n\n", 2)[2]
    (c1,) = hi.parse_combined(text, "commas")
    assert (c1["addr"], c1["port"], c1["status"], c1["check_status"]) == \
        ("10.77.7.5", 8093, "DOWN", "L7STS")


@pytest.mark.parametrize("params,needle", [
    ({"socket": "", "backend": None, "timeout": 10.0}, "option socket"),
    ({"socket": "/run/a b.sock", "backend": None, "timeout": 10.0}, "option socket"),
    ({"socket": "/run/haproxy/admin.sock", "backend": "a;b", "timeout": 10.0}, "option backend"),
    ({"socket": "/run/haproxy/admin.sock", "backend": "", "timeout": 10.0}, "option backend"),
    ({"socket": "/run/haproxy/admin.sock", "backend": "app", "timeout": 0.0}, "option timeout"),
])
def test_bad_input_names_the_option(params, needle):
    assert needle in hi.haproxy_info_problem(params)
    assert hi.haproxy_info_problem(dict(params, socket="/s", backend="app", timeout=1.0)) is None


class _Exit(Exception):
    pass


class _Module:
    def __init__(self, **params):
        self.params = dict({"socket": "/run/haproxy/admin.sock", "backend": None,
                            "timeout": 5.0, "execution": "auto"}, **params)

    def fail_json(self, **kw):
        raise _Exit(dict(kw, failed=True))

    def exit_json(self, **kw):
        raise _Exit(kw)


def _serve(path, reply):
    """A unix socket that reads one command line and answers reply (b"" closes at once, as
    the SSH forward does when sshd cannot open the socket on the host)."""
    import socket
    import threading
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def run():
        conn = srv.accept()[0]
        if reply:
            conn.recv(65536)
            conn.sendall(reply)
        conn.close()
        srv.close()
    threading.Thread(target=run, daemon=True).start()


def _run(module, reach=None):
    with pytest.raises(_Exit) as info:
        hi.haproxy_info_main(module, reach=reach)
    return info.value.args[0]


def test_forward_that_closes_names_the_socket_and_may_go_to_the_host(tmp_path):
    local = str(tmp_path / "fwd.sock")
    _serve(local, b"")
    res = _run(_Module(socket="/run/haproxy/nothing.sock"), reach=local)
    assert res["failed"] and res["forward_failed"] is True
    assert "/run/haproxy/nothing.sock" in res["msg"] and "option socket" in res["msg"]
    assert local not in res["msg"]


def test_unknown_backend_over_the_forward_is_final(tmp_path):
    local = str(tmp_path / "fwd.sock")
    _serve(local, b"No such proxy.\n\nCan't find backend.\n\n")
    res = _run(_Module(backend="nosuch"), reach=local)
    assert res["failed"] and "forward_failed" not in res
    assert "option backend" in res["msg"] and "nosuch" in res["msg"]


def test_bad_input_fails_before_the_socket():
    res = _run(_Module(timeout=0.0), reach="/nonexistent/never-used.sock")
    assert res["failed"] and "forward_failed" not in res and "option timeout" in res["msg"]
