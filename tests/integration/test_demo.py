"""`make demo`'s playbook on the lab: the whole fleet (engines, HAProxy, the demo app v1)
and an HTTP 200 from the app through the load balancer, printed for the user."""
from __future__ import annotations

from loadclient import LoadClient


def test_demo_playbook_serves_v1_through_haproxy(lab, play):
    for host in lab.app_hosts:           # the demo owns the fleet: start from empty engines
        for c in lab.docker(host).containers.list(all=True):
            c.remove(force=True)
    res = play("playbooks/demo.yml")
    assert res.rc == 0, res.stdout[-4000:]
    lb = list(lab.lb.values())[0]
    assert "The demo app answers through HAProxy at http://%s:80/" % lb in res.stdout
    assert "HTTP 200: dockyard demo v1" in res.stdout
    # every replica on every app host answers through the load balancer
    stats = LoadClient("http://%s/" % lb, max_requests=60, max_seconds=30).run()
    assert stats.failed == 0 and set(stats.versions) == {"v1"}, stats.summary()
    for host in lab.app_hosts:
        names = sorted(c.name for c in lab.docker(host).containers.list())
        assert names == ["app-1", "app-2"], (host, names)
    again = play("playbooks/demo.yml")
    assert again.rc == 0 and again.recap and all(
        h["changed"] == 0 for name, h in again.recap.items() if name != "localhost"), again.stdout[-3000:]
    for host in lab.app_hosts:           # not left running: each replica probes its health every 5 s
        lab.clean(host, "app-")
