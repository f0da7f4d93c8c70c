"""dockyard.fleet.prune against a real lab engine over SSH: check mode predicts exactly what
the real run then removes (containers, the images and volumes those containers held, networks
without an endpoint), the rerun removes nothing, and the filters confine it.

Every run here is confined to objects labelled for this test (the lab's hosts are shared by
the other test files), which still puts the engine's rules to work: a running and a stopped
container, images used, freed by the containers pruned in the same run, and unused, tagged
and not, networks with a running container, with a stopped one only and with none, volumes
mounted, freed, unused and labelled to keep. Build cache comes from real BuildKit builds on the
engine (see _buildkit_build)."""
from __future__ import annotations

import io
import tarfile
import time

import pytest
import yaml
from conftest import numbered_tasks, results_in_order

H = "app2"
V1 = "dockyard/demo:v1"
LABEL = "dockyard.test=prune"
MINE = {"dockyard.test": "prune"}
KINDS = ("containers", "images", "networks", "volumes")


def _images(api):
    return {i["Id"]: i for i in api.images(filters={"label": LABEL})}


@pytest.fixture
def fleet(lab):
    """The labelled objects on H; yields their IDs and names; removes what is left."""
    lab.load_image(H, V1)
    api = lab.docker(H).api
    _cleanup(lab, api)
    base = api.create_container(V1, name="pr-base")["Id"]
    ids = {}
    for key, repo in (("img_used", None), ("img_freed", None), ("img_free", None), ("img_tagged", "dyprune/tagged")):
        ids[key] = api.commit(base, repository=repo, tag="1" if repo else None,
                              conf={"Labels": dict(MINE, which=key)})["Id"]
    api.remove_container(base)
    for name in ("pr-net-used", "pr-net-stopped", "pr-net-free"):
        api.create_network(name, labels=MINE)
    api.create_network("pr-net-unlabelled")
    for name in ("pr-vol-used", "pr-vol-freed", "pr-vol-free"):
        api.create_volume(name, labels=MINE)
    api.create_volume("pr-vol-keep", labels=dict(MINE, keep="yes"))

    def container(name, image, volume, network, labels=None):
        config = api.create_host_config(binds={volume: {"bind": "/data", "mode": "rw"}}, network_mode=network)
        return api.create_container(image, name=name, labels=MINE if labels is None else labels,
                                    volumes=["/data"], host_config=config)["Id"]
    ids["c_run"] = container("pr-run", ids["img_used"], "pr-vol-used", "pr-net-used")
    api.start(ids["c_run"])
    ids["c_stopped"] = container("pr-stopped", ids["img_freed"], "pr-vol-freed", "pr-net-stopped")
    ids["c_unlabelled"] = container("pr-unlabelled", V1, "pr-vol-keep", "bridge", labels={})
    yield ids
    _cleanup(lab, api)


def _cleanup(lab, api):
    lab.clean(H, "pr-")
    for image in api.images(filters={"label": LABEL}):
        api.remove_image(image["Id"], force=True)


def prune_play(check=False, **options):
    task = dict(options)
    for kind in KINDS:
        if task.get(kind):
            filters = task.setdefault(kind + "_filters", {})
            filters.setdefault("label", LABEL)
    play = {"hosts": H, "gather_facts": False,
            "tasks": [{"dockyard.fleet.prune": task, "register": "r0", "name": "t0"}]}
    if check:
        play["check_mode"] = True
    return yaml.safe_dump([play])


def one(res):
    assert res.rc == 0, res.stdout[-3000:]
    (rec,) = res.records
    return rec["result"]


def removed(result):
    return {k: sorted(result.get(k) or []) for k in KINDS + ("images_untagged",) if k in result}


def test_check_mode_predicts_what_the_real_run_removes_and_a_rerun_removes_nothing(lab, play, fleet):
    api = lab.docker(H).api
    everything = dict(containers=True, images=True, networks=True, volumes=True,
                      volumes_filters={"label": LABEL, "label!": "keep"})
    # objects made seconds ago are all newer than an hour back
    hour = {"until": "1h"}
    recent = one(play(prune_play(check=True, **dict(everything, containers_filters=dict(hour), images_filters=dict(hour),
                                                    networks_filters=dict(hour)))))
    assert recent["containers"] == recent["images"] == recent["networks"] == []
    before = lab.snapshot(H)
    res = play(prune_play(check=True, **everything), diff=True)
    predicted = one(res)
    assert lab.snapshot(H) == before   # check mode removed nothing
    assert predicted["changed"] and "space_reclaimed" not in predicted
    assert removed(predicted) == {
        "containers": [fleet["c_stopped"]],
        # the stopped container's image is freed by its own removal in the same run
        "images": sorted([fleet["img_freed"], fleet["img_free"]]), "images_untagged": [],
        # a network only a stopped container is on has no endpoint: the engine removes it
        "networks": ["pr-net-free", "pr-net-stopped"],
        "volumes": ["pr-vol-free", "pr-vol-freed"],
    }, predicted
    assert "pr-net-stopped" in res.stdout   # the diff lists them
    real = one(play(prune_play(**everything)))
    assert real["changed"] and removed(real) == removed(predicted), (real, predicted)
    assert real["execution"] == "controller" and real["invocations"] == 0
    assert real["space_reclaimed"] >= 0
    # what the engine has now
    names = {c["Names"][0].lstrip("/") for c in api.containers(all=True)}
    assert {"pr-run", "pr-unlabelled"} <= names and "pr-stopped" not in names
    assert set(_images(api)) == {fleet["img_used"], fleet["img_tagged"]}
    nets = {n["Name"] for n in api.networks()}
    assert {"pr-net-used", "pr-net-unlabelled"} <= nets and not nets & {"pr-net-free", "pr-net-stopped"}
    vols = {v["Name"] for v in api.volumes()["Volumes"]}
    assert {"pr-vol-used", "pr-vol-keep"} <= vols and not vols & {"pr-vol-free", "pr-vol-freed"}
    # again: nothing to remove, in check mode and for real
    for check in (True, False):
        again = one(play(prune_play(check=check, **everything)))
        assert not again["changed"] and not any(removed(again).values()), again


def test_dangling_false_removes_unused_tagged_images_too(lab, play, fleet):
    api = lab.docker(H).api
    options = dict(images=True, images_filters={"dangling": False, "label": LABEL})
    predicted = one(play(prune_play(check=True, **options)))
    # the stopped container keeps its image: only images are pruned here
    assert removed(predicted) == {"images": sorted([fleet["img_free"], fleet["img_tagged"]]),
                                  "images_untagged": ["dyprune/tagged:1"]}
    real = one(play(prune_play(**options)))
    assert removed(real) == removed(predicted)
    assert set(_images(api)) == {fleet["img_used"], fleet["img_freed"]}
    assert one(play(prune_play(**options)))["changed"] is False


def test_bad_filters_fail_naming_the_option_and_remove_nothing(lab, play, fleet):
    before = lab.snapshot(H)
    res = play(numbered_tasks(
        "dockyard.fleet.prune", H,
        {"containers": True, "containers_filters": {"until": "last week"}},
        {"volumes": True, "volumes_filters": {"all": True}},      # the lab's engines speak API 1.41
        {"images": True, "images_filters": {"reference": "x"}},
        {"networks_filters": {"label": "x"}},
        {}))
    out = results_in_order(res)
    assert [r["status"] for r in out] == ["failed"] * 5, out
    until, all_, reference, without, nothing = (r["msg"] for r in out)
    assert until.startswith("containers_filters: filter 'until'")
    assert all_.startswith("volumes_filters: filter 'all' needs an engine with API 1.42")
    assert reference.startswith("images_filters: unknown filter 'reference'")
    assert without.startswith("networks_filters: set networks: true")
    assert nothing.startswith("containers: nothing to prune")
    assert lab.snapshot(H) == before


def test_the_prune_playbook(lab, play, fleet):
    """playbooks/prune.yml, confined by its prune_label to this test's objects: a day's age by
    default (nothing here is that old), any age with prune_until '', volumes left alone."""
    api = lab.docker(H).api
    confined = {"prune_hosts": H, "prune_label": LABEL}
    aged = play("playbooks/prune.yml", extra_vars=confined)
    assert aged.rc == 0 and aged.changed == 0, aged.stdout[-3000:]
    before = lab.snapshot(H)
    anyage = dict(confined, prune_until="")
    check = play("playbooks/prune.yml", extra_vars=anyage, check=True)
    assert check.rc == 0 and lab.snapshot(H) == before, check.stdout[-3000:]
    predicted = removed(check.one(action="prune"))
    assert "would remove 1 containers, 2 images, 2 networks, 0 volumes" in check.stdout, check.stdout[-2000:]
    real = play("playbooks/prune.yml", extra_vars=anyage)
    assert real.rc == 0 and removed(real.one(action="prune")) == predicted, real.stdout[-3000:]
    assert "removed 1 containers, 2 images, 2 networks, 0 volumes" in real.stdout
    assert {"pr-vol-free", "pr-vol-freed"} <= {v["Name"] for v in api.volumes()["Volumes"]}
    again = play("playbooks/prune.yml", extra_vars=anyage)
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]


def test_several_label_not_filters_leave_out_only_what_matches_them_all(lab, play, fleet):
    """The engine's rule, not the obvious one: label! with two entries keeps only the objects
    that carry both (moby's matchLabels); check mode predicts that, and the engine does it."""
    api = lab.docker(H).api
    api.create_network("pr-net-a", labels=dict(MINE, **{"pr.a": "1"}))
    api.create_network("pr-net-ab", labels=dict(MINE, **{"pr.a": "1", "pr.b": "1"}))
    options = dict(networks=True, networks_filters={"label": LABEL, "label!": ["pr.a", "pr.b"]})
    predicted = one(play(prune_play(check=True, **options)))
    real = one(play(prune_play(**options)))
    assert removed(predicted) == removed(real) == {"networks": ["pr-net-a", "pr-net-free", "pr-net-stopped"]}
    assert "pr-net-ab" in {n["Name"] for n in api.networks()}


# ------------------------------------------------------------------ build cache
# Build cache comes from real BuildKit builds on H: the engine's own BuildKit (POST
# /build?version=2) given the build context as the request body, which needs no docker CLI, no
# buildx, no session and no network. Build-cache records have no labels to confine a prune to,
# and nothing else in the suite builds with BuildKit: the fixture starts from an empty build
# cache and leaves one.
BK_LABEL = "dockyard.test=prune-builder"


def _buildkit_build(api, tag, files):
    """Build FROM scratch with a COPY per file (in order) and tag it; one record per COPY
    (a COPY's record is the parent of the next one's), and records of the context."""
    lines = ["FROM scratch"] + ["COPY %s /%s" % (name, name) for name in files] + ["LABEL " + BK_LABEL]
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in dict(files, Dockerfile="\n".join(lines).encode()).items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    res = api._post(api._url("/build"), params={"version": "2", "t": tag}, data=context.getvalue(),
                    headers={"Content-Type": "application/x-tar"})
    res.raise_for_status()
    assert "errorDetail" not in res.text and "Successfully tagged" in res.text, res.text[-2000:]


def _cache(api):
    """The engine's build-cache records, {ID: record} (its /system/df)."""
    return {r["ID"]: r for r in api.df().get("BuildCache") or []}


def _bk_cleanup(api):
    for image in api.images(filters={"label": BK_LABEL}):
        api.remove_image(image["Id"], force=True)
    api.prune_builds(all=True)
    assert not _cache(api)


def builder_play(check=False, **options):
    play = {"hosts": H, "gather_facts": False,
            "tasks": [{"dockyard.fleet.prune": dict(options, builder_cache=True), "register": "r0", "name": "t0"}]}
    if check:
        play["check_mode"] = True
    return yaml.safe_dump([play])


@pytest.fixture
def build_cache(lab):
    """Two BuildKit builds on H sharing their first layer; image bk:kept stays (its records are
    shared with it), bk:gone is removed (its own records are no image's any more). Yields the
    API client; leaves no build cache and no image of its own."""
    api = lab.docker(H).api
    _bk_cleanup(api)
    _buildkit_build(api, "dyprune/bk:kept", {"a": b"a" * 1000, "b": b"b" * 2000})
    _buildkit_build(api, "dyprune/bk:gone", {"a": b"a" * 1000, "c": b"c" * 3000})
    api.remove_image("dyprune/bk:gone")
    yield api
    _bk_cleanup(api)


def test_builder_cache_check_mode_predicts_the_real_run_and_a_rerun_removes_nothing(lab, play, build_cache):
    api = build_cache
    before = _cache(api)
    shared = {i for i, r in before.items() if r["Shared"]}
    # the image kept shares its two layers (the COPY of a, and of b on it); the rest is no image's
    assert len(shared) == 2 and len(before) > 3 and not any(r["InUse"] for r in before.values()), before
    (copy_a,) = [i for i in shared if not before[i]["Parent"]]
    (copy_b,) = shared - {copy_a}
    snapshot = lab.snapshot(H)
    # all, confined to the shared records: the COPY of b goes; the COPY of a stays, a record
    # of the removed image (its COPY of c, no image's) being built on it
    shared_only = dict(builder_cache_all=True, builder_cache_filters={"shared": True})
    res = play(builder_play(check=True, **shared_only), diff=True)
    predicted = one(res)
    assert _cache(api) == before and lab.snapshot(H) == snapshot   # check mode removed nothing
    assert predicted["changed"] and "space_reclaimed" not in predicted
    assert predicted["builder_cache"] == [copy_b], (predicted, before)
    assert copy_b in res.stdout   # the diff lists it
    real = one(play(builder_play(**shared_only)))
    assert real["changed"] and real["builder_cache"] == [copy_b]
    assert real["execution"] == "controller" and real["invocations"] == 0
    assert real["space_reclaimed"] == before[copy_b]["Size"]
    assert set(_cache(api)) == set(before) - {copy_b}
    # without all: every record no build uses and no image shares (the context's too)
    predicted = one(play(builder_play(check=True)))
    assert sorted(predicted["builder_cache"]) == sorted(set(before) - shared), (predicted, before)
    real = one(play(builder_play()))
    assert real["changed"] and sorted(real["builder_cache"]) == sorted(predicted["builder_cache"])
    assert real["space_reclaimed"] == sum(before[i]["Size"] for i in real["builder_cache"])
    # what the engine has now: the record the kept image still shares, and the image
    assert set(_cache(api)) == {copy_a}
    assert [i["RepoTags"] for i in api.images(filters={"label": BK_LABEL})] == [["dyprune/bk:kept"]]
    for check in (True, False):
        again = one(play(builder_play(check=check)))
        assert not again["changed"] and again["builder_cache"] == [], again
    # all: the shared one too (the image keeps its layers)
    predicted = one(play(builder_play(check=True, builder_cache_all=True)))
    assert predicted["builder_cache"] == [copy_a]
    real = one(play(builder_play(builder_cache_all=True)))
    assert real["changed"] and real["builder_cache"] == [copy_a]
    assert not _cache(api) and api.images(filters={"label": BK_LABEL})
    for check in (True, False):
        assert not one(play(builder_play(check=check, builder_cache_all=True)))["changed"]


def test_builder_cache_keep_storage_and_until_as_the_engine_applies_them(lab, play, build_cache):
    api = build_cache
    api.remove_image("dyprune/bk:kept")   # now no image shares any record
    before = _cache(api)
    total = sum(r["Size"] for r in before.values())
    assert not any(r["Shared"] for r in before.values())
    # the records take less than keep-storage: nothing goes, in check mode and for real
    for check in (True, False):
        res = one(play(builder_play(check=check, builder_cache_keep_storage="%dk" % (total // 1024 + 1))))
        assert not res["changed"] and res["builder_cache"] == [], res
    # less: one record at a time, least recently and least often used first, until under it
    keep = total - 12000
    predicted = one(play(builder_play(check=True, builder_cache_keep_storage=keep)))
    assert predicted["changed"] and 0 < len(predicted["builder_cache"]) < len(before)
    real = one(play(builder_play(builder_cache_keep_storage=keep)))
    assert sorted(real["builder_cache"]) == sorted(predicted["builder_cache"]), (real, predicted)
    after = _cache(api)
    assert set(after) == set(before) - set(real["builder_cache"])
    left = sum(r["Size"] for r in after.values())
    # the engine stopped at the first record that took the rest under keep-storage
    assert left < keep <= left + max(before[i]["Size"] for i in real["builder_cache"])
    assert not one(play(builder_play(builder_cache_keep_storage=keep)))["changed"]
    # until: records last used before a moment go; those used since stay (a Unix timestamp, the
    # same moment for the check and the real run, given to the engine as a duration back)
    _buildkit_build(api, "dyprune/bk:early", {"e": b"e" * 1500})
    time.sleep(1.5)
    moment = time.time()
    time.sleep(1.5)
    _buildkit_build(api, "dyprune/bk:late", {"l": b"l" * 2500})
    for ref in ("dyprune/bk:early", "dyprune/bk:late"):
        api.remove_image(ref)
    before = _cache(api)
    used = {i: r["LastUsedAt"] for i, r in before.items()}
    options = dict(builder_cache_filters={"until": "%.3f" % moment})
    predicted = one(play(builder_play(check=True, **options)))
    real = one(play(builder_play(**options)))
    assert sorted(real["builder_cache"]) == sorted(predicted["builder_cache"]) != [], (real, predicted)
    assert set(_cache(api)) == set(before) - set(real["builder_cache"]) != set(), used
    assert not one(play(builder_play(**options)))["changed"]


def test_builder_cache_bad_options_fail_naming_the_option_and_remove_nothing(lab, play, build_cache):
    api = build_cache
    before, snapshot = _cache(api), lab.snapshot(H)
    res = play(numbered_tasks(
        "dockyard.fleet.prune", H,
        {"builder_cache": True, "builder_cache_filters": {"label": "keep"}},
        {"builder_cache": True, "builder_cache_keep_storage": "lots"},
        {"builder_cache_all": True, "containers": True},
        {"builder_cache": True, "builder_cache_filters": {"id": "a.*"}},
        {"builder_cache": True, "builder_cache_filters": {"until": ["1h", "2h"]}},
        # every kind is checked before the first prune
        {"containers": True, "images": True, "builder_cache": True, "builder_cache_filters": {"inuse": True}}))
    out = results_in_order(res)
    assert [r["status"] for r in out] == ["failed"] * 6, out
    label, keep, without, regex, two, inuse = (r["msg"] for r in out)
    assert label.startswith("builder_cache_filters: filter 'label': build cache has no labels")
    assert keep.startswith("builder_cache_keep_storage: expected bytes")
    assert without.startswith("builder_cache_all: set builder_cache: true")
    assert regex.startswith("builder_cache_filters: filter 'id': letters and digits")
    assert two.startswith("builder_cache_filters: filter 'until': one value")
    assert inuse.startswith("builder_cache_filters: unknown filter 'inuse'")
    assert _cache(api) == before and lab.snapshot(H) == snapshot


def test_the_prune_playbook_removes_build_cache_when_asked(lab, play, build_cache):
    """playbooks/prune.yml with prune_builder_cache: the records no image shares go (the other
    kinds confined to this file's label), check mode says how many first, a rerun removes none."""
    api = build_cache
    before = _cache(api)
    free = {i for i, r in before.items() if not r["Shared"]}
    asked = {"prune_hosts": H, "prune_label": LABEL, "prune_until": "", "prune_builder_cache": True}
    # left out (the default): build cache is not touched
    default = play("playbooks/prune.yml", extra_vars=dict(asked, prune_builder_cache=False))
    assert default.rc == 0 and _cache(api) == before, default.stdout[-3000:]
    check = play("playbooks/prune.yml", extra_vars=asked, check=True)
    assert check.rc == 0 and _cache(api) == before, check.stdout[-3000:]
    assert "0 volumes, %d build cache records" % len(free) in check.stdout, check.stdout[-2000:]
    real = play("playbooks/prune.yml", extra_vars=asked)
    assert real.rc == 0 and set(real.one(action="prune")["builder_cache"]) == free, real.stdout[-3000:]
    assert set(_cache(api)) == set(before) - free
    again = play("playbooks/prune.yml", extra_vars=asked)
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
