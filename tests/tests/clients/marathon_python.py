"""marathon-python (PyPI `marathon`, 0.13) against marathon-sim: info, groups, apps,
deployments, the 409 lock and the event stream. Anything the client cannot parse, or an
answer a real Marathon would not give, fails the run."""
import collections
import collections.abc
import os
import sys
import threading

# marathon-python 0.13 predates Python 3.10, which removed these aliases; it still uses them.
for _name in ("Iterable", "Mapping", "MutableMapping", "Sequence"):
    setattr(collections, _name, getattr(collections.abc, _name))

from marathon import MarathonClient
from marathon.exceptions import MarathonHttpError
from marathon.models import MarathonApp, MarathonGroup

URL = os.environ["MARATHON_SIM_URL"]
IMAGE = "registry.example/shop:v1"


def wait_idle(client):
    import time
    for _ in range(500):
        if not client.list_deployments():
            return
        time.sleep(0.02)
    raise AssertionError("deployments still running")


def main():
    client = MarathonClient(URL)
    info = client.get_info()
    assert info.version, info
    assert info.http_config.http_port == int(URL.rsplit(":", 1)[1]), info.http_config

    events = []
    stream_ready = threading.Event()

    def listen():
        stream = client.event_stream(event_types=["deployment_success", "event_stream_attached"])
        for event in stream:
            events.append(event)
            stream_ready.set()
            if event.event_type == "deployment_success":
                return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert stream_ready.wait(10), "event_stream_attached"

    app = {"id": "web", "instances": 2, "cpus": 0.1, "mem": 64,
           "container": {"type": "DOCKER", "docker": {"image": IMAGE}},
           "healthChecks": [{"protocol": "HTTP", "path": "/health", "gracePeriodSeconds": 30}],
           "labels": {"team": "shop"}}
    group = MarathonGroup.from_json({"id": "/shop-prod", "apps": [app]})
    created = client.create_group(group)
    assert created["deploymentId"], created
    listener.join(10)
    assert any(e.event_type == "deployment_success" for e in events), events
    wait_idle(client)

    got = client.get_group("/shop-prod")
    assert [a.id for a in got.apps] == ["/shop-prod/web"], got.apps
    web = client.get_app("/shop-prod/web")
    assert web.tasks_running == 2 and web.tasks_healthy == 2, web
    assert web.labels == {"team": "shop"}
    assert web.port_definitions[0].port >= 10000, web.port_definitions
    assert all(t.service_ports == [web.port_definitions[0].port] for t in web.tasks), web.tasks
    assert [a.id for a in client.list_apps(app_id="SHOP-PROD")] == ["/shop-prod/web"]
    assert [a.id for a in client.list_apps(label="team==shop")] == ["/shop-prod/web"]

    # A change while a deployment holds the app is refused with 409, as Marathon does. Tasks
    # of `*:hangs` never get healthy (the test's rule), so that deployment holds the app.
    hang = dict(app, id="/hang", container={"type": "DOCKER", "docker": {"image": "registry.example/shop:hangs"}})
    client.create_app("/hang", MarathonApp.from_json(hang))
    try:
        client.scale_app("/hang", instances=4)
    except MarathonHttpError as err:
        assert err.status_code == 409, err
    else:
        raise AssertionError("a change of a locked app was not refused")
    deployments = client.list_deployments()
    assert [d.affected_apps for d in deployments] == [["/hang"]], deployments
    client.scale_app("/hang", instances=0, force=True)
    wait_idle(client)
    assert client.get_app("/hang").instances == 0
    client.delete_group("/shop-prod")
    wait_idle(client)
    print("marathon-python: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        import traceback
        traceback.print_exc()
        sys.exit(1)
