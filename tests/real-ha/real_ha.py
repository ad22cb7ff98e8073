#!/usr/bin/env python3
"""A real Home Assistant (2024.3.3, pinned) on loopback, for hassette's end-to-end tests.

    real_ha.py install                 create the venv and pip install requirements.txt
                                       (reused when it is already complete)
    real_ha.py start --config DIR      start Home Assistant with the configuration in DIR:
                                       on first use, write an offline configuration with test
                                       helpers on a free 127.0.0.1 port, onboard it and mint a
                                       long-lived token; later, start the same instance again
                                       (same port, same token). Waits for RUNNING (recovery
                                       mode is a failed start), then writes DIR/connection.json
                                       {"base_url", "token", "pid", "port", "start_secs"} and
                                       prints it. Home Assistant keeps running in the background.
                                       --watch-pid PID: also stop it when PID is gone
    real_ha.py stop --config DIR       SIGTERM the instance (its pid is in DIR/hass.pid), wait
                                       for it to exit (SIGKILL after 30 s)

The venv lives in $HASSETTE_REAL_HA_DIR/venv (default: <repo>/target/real-ha/venv); --dir
overrides it. Home Assistant's own output is in DIR/hass.log. Only the Python standard library
is used here, except the websocket step of onboarding, which runs under the venv's Python with
its aiohttp.
"""

import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
DEFAULT_DIR = HERE.parent.parent / "target" / "real-ha"
STAMP = ".hassette-installed"

# A harmless, always-loaded demo of about 100 entities (lights, sensors, ...): realistic
# get_states sizes and background events. The test helpers below are the deterministic targets.
CONFIG = """\
homeassistant:
  name: Hassette test
  latitude: 52.3731
  longitude: 4.8922
  elevation: 0
  unit_system: metric
  time_zone: Europe/Amsterdam
  country: NL
  currency: EUR
  internal_url: "http://127.0.0.1:{port}"

http:
  server_host: 127.0.0.1
  server_port: {port}
  ip_ban_enabled: false

api:
websocket_api:
sun:
# history and logbook over the websocket (hassette's Api::history, Api::logbook)
recorder:
  commit_interval: 0
history:
logbook:
{demo}
input_boolean:
  test_motion:
    name: Test motion
  test_light:
    name: Test light
  test_switch:
    name: Test switch
  test_door:
    name: Test door

input_number:
  test_level:
    name: Test level
    min: 0
    max: 100
    step: 1
    initial: 0

input_text:
  test_text:
    name: Test text
    initial: ""

input_select:
  test_mode:
    name: Test mode
    options: [home, away, night]
    initial: home

input_button:
  test_button:
    name: Test button

counter:
  test_counter:
    name: Test counter
"""

ONBOARDING = {
    "version": 4,
    "minor_version": 1,
    "key": "onboarding",
    "data": {"done": ["core_config", "analytics", "integration"]},
}

USERNAME = "hassette"
PASSWORD = "hassette-test-password"


def log(msg):
    print(f"real_ha: {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(f"error: {msg}")
    sys.exit(1)


# ---------------------------------------------------------------------------------- install


def venv_dir(args):
    base = args.dir or os.environ.get("HASSETTE_REAL_HA_DIR") or DEFAULT_DIR
    return Path(base).resolve() / "venv"


def requirements_hash():
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def installed(venv):
    stamp = venv / STAMP
    return stamp.is_file() and stamp.read_text().strip() == requirements_hash()


def install(args):
    venv = venv_dir(args)
    if installed(venv):
        log(f"{venv} is complete; reusing it")
        return
    if sys.version_info[:2] != (3, 11):
        die(
            f"requirements.txt pins Home Assistant 2024.3.3 for CPython 3.11; this is "
            f"{sys.version.split()[0]} ({sys.executable}). Run this script with python3.11."
        )
    try:
        import ensurepip  # noqa: F401  (Debian splits it out: apt-get install python3-venv)
    except ImportError:
        die("python3 has no venv/ensurepip: apt-get install python3-venv")
    t0 = time.monotonic()
    if venv.exists():
        log(f"{venv} is incomplete or stale; recreating it")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    subprocess.run(
        pip + ["install", "--quiet", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        check=True,
    )
    check = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import homeassistant.const as c; print(c.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    (venv / STAMP).write_text(requirements_hash() + "\n")
    log(f"installed Home Assistant {check.stdout.strip()} into {venv} in {time.monotonic() - t0:.0f} s")


# ------------------------------------------------------------------------------------ HTTP


def http(method, url, *, token=None, json_body=None, form=None, timeout=10):
    headers = {}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def hass_log_tail(config, n=40):
    try:
        return "\n".join((config / "hass.log").read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no hass.log)"


# ------------------------------------------------------------------------------ onboarding


def mint_long_lived_token(ws_url, access_token):
    """Over the websocket (with the venv's aiohttp): auth, then auth/long_lived_access_token."""
    import asyncio

    import aiohttp

    async def run():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url, max_msg_size=0) as ws:
                msg = await ws.receive_json(timeout=10)
                assert msg["type"] == "auth_required", msg
                await ws.send_json({"type": "auth", "access_token": access_token})
                msg = await ws.receive_json(timeout=10)
                if msg["type"] != "auth_ok":
                    raise RuntimeError(f"websocket auth failed: {msg}")
                await ws.send_json(
                    {
                        "id": 1,
                        "type": "auth/long_lived_access_token",
                        "client_name": f"hassette-tests-{time.time_ns()}",
                        "lifespan": 3650,
                    }
                )
                while True:
                    msg = await ws.receive_json(timeout=10)
                    if msg.get("id") == 1 and msg.get("type") == "result":
                        if not msg.get("success"):
                            raise RuntimeError(f"long-lived token refused: {msg}")
                        return msg["result"]

    return asyncio.run(run())


def onboard(base_url, deadline):
    """Creates the owner user (the one onboarding step left) and returns a long-lived token."""
    client_id = base_url + "/"
    while True:
        try:
            auth_code = http(
                "POST",
                f"{base_url}/api/onboarding/users",
                json_body={
                    "client_id": client_id,
                    "name": "Hassette",
                    "username": USERNAME,
                    "password": PASSWORD,
                    "language": "en",
                },
            )["auth_code"]
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            # Not listening yet, or onboarding views not registered yet (404).
            if time.monotonic() > deadline:
                raise RuntimeError(f"onboarding did not answer: {e}") from e
            time.sleep(0.2)
    tokens = http(
        "POST",
        f"{base_url}/auth/token",
        form={"grant_type": "authorization_code", "code": auth_code, "client_id": client_id},
    )
    ws_url = base_url.replace("http://", "ws://") + "/api/websocket"
    return mint_long_lived_token(ws_url, tokens["access_token"])


def wait_running(base_url, token, pid, config, deadline):
    last = None
    while time.monotonic() < deadline:
        if not alive(pid):
            raise RuntimeError(f"hass (pid {pid}) exited during start:\n{hass_log_tail(config)}")
        try:
            cfg = http("GET", f"{base_url}/api/config", token=token, timeout=5)
            if cfg.get("recovery_mode"):
                raise RuntimeError(
                    "Home Assistant started in recovery mode (an integration failed to load):\n"
                    + hass_log_tail(config)
                )
            last = cfg.get("state")
            if last == "RUNNING":
                return cfg
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            last = repr(e)
        time.sleep(0.1)
    raise RuntimeError(f"not RUNNING in time (last: {last}):\n{hass_log_tail(config)}")


# ------------------------------------------------------------------------------ start/stop


def python_of(venv):
    return venv / "bin" / "python"


def reexec_in_venv(args):
    """start needs the venv's aiohttp: run this script under the venv's Python."""
    venv = venv_dir(args)
    py = python_of(venv)
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if not installed(venv):
        die(f"Home Assistant is not installed in {venv}: run `{sys.argv[0]} install` first")
    os.execv(str(py), [str(py), str(Path(__file__).resolve())] + sys.argv[1:])


def start(args):
    reexec_in_venv(args)
    venv = venv_dir(args)
    config = Path(args.config).resolve()
    config.mkdir(parents=True, exist_ok=True)
    conn_path = config / "connection.json"
    known = json.loads(conn_path.read_text()) if conn_path.exists() else None
    pid_file = config / "hass.pid"
    if pid_file.exists() and alive(int(pid_file.read_text())):
        die(f"Home Assistant is already running from {config} (pid {pid_file.read_text().strip()})")

    if known is None:
        port = args.port or free_port()
        demo = "" if args.no_demo else "demo:\n"
        (config / "configuration.yaml").write_text(CONFIG.format(port=port, demo=demo))
        (config / ".storage").mkdir(exist_ok=True)
        (config / ".storage" / "onboarding").write_text(json.dumps(ONBOARDING))
    else:
        port = known["port"]
    base_url = f"http://127.0.0.1:{port}"

    t0 = time.monotonic()
    deadline = t0 + args.timeout
    with open(config / "hass.log", "ab") as out:
        proc = subprocess.Popen(
            [str(venv / "bin" / "hass"), "-c", str(config), "--skip-pip"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    try:
        token = known["token"] if known else onboard(base_url, deadline)
        wait_running(base_url, token, proc.pid, config, deadline)
    except BaseException as e:
        stop_pid(proc.pid)
        pid_file.unlink(missing_ok=True)
        die(str(e))
    conn = {
        "base_url": base_url,
        "token": token,
        "pid": proc.pid,
        "port": port,
        "start_secs": round(time.monotonic() - t0, 3),
    }
    tmp = config / "connection.json.tmp"
    tmp.write_text(json.dumps(conn, indent=2) + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(conn_path)
    if args.watch_pid:
        start_watchdog(config, args.watch_pid)
    log(f"Home Assistant RUNNING at {base_url} (pid {proc.pid}) in {conn['start_secs']:.2f} s")
    print(json.dumps(conn), flush=True)


def stop_pid(pid, timeout=30.0):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            log(f"pid {pid} ignored SIGTERM for {timeout:.0f} s: SIGKILL")
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        time.sleep(0.05)
    # If it is our child (a failed start), reap it.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def start_watchdog(config, watch_pid):
    """A detached process that stops this Home Assistant when `watch_pid` (the test process)
    is gone, so that a killed test run leaves nothing behind. One per configuration dir."""
    pid_file = config / "watchdog.pid"
    if pid_file.exists() and alive(int(pid_file.read_text())):
        return
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "watch", "--config", str(config), "--pid", str(watch_pid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    pid_file.write_text(f"{proc.pid}\n")


def watch(args):
    config = Path(args.config).resolve()
    while alive(args.pid) and config.exists():
        time.sleep(0.5)
    pid_file = config / "hass.pid"
    if pid_file.exists():
        stop_pid(int(pid_file.read_text()))
        pid_file.unlink(missing_ok=True)


def stop(args):
    config = Path(args.config).resolve()
    pid_file = config / "hass.pid"
    if not pid_file.exists():
        log(f"nothing running from {config}")
        return
    pid = int(pid_file.read_text())
    t0 = time.monotonic()
    stop_pid(pid)
    pid_file.unlink(missing_ok=True)
    log(f"stopped Home Assistant (pid {pid}) in {time.monotonic() - t0:.2f} s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", help="where the venv lives (default $HASSETTE_REAL_HA_DIR or target/real-ha)")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install")
    s = sub.add_parser("start")
    s.add_argument("--config", required=True, help="the configuration directory (created if missing)")
    s.add_argument("--port", type=int, help="on first use: the port (default: a free one)")
    s.add_argument("--no-demo", action="store_true", help="on first use: leave out the demo entities")
    s.add_argument("--timeout", type=float, default=60.0, help="seconds to reach RUNNING")
    s.add_argument("--watch-pid", type=int, help="stop Home Assistant when this process is gone")
    t = sub.add_parser("stop")
    t.add_argument("--config", required=True)
    w = sub.add_parser("watch", help=argparse.SUPPRESS)
    w.add_argument("--config", required=True)
    w.add_argument("--pid", type=int, required=True)
    args = p.parse_args()
    {"install": install, "start": start, "stop": stop, "watch": watch}[args.cmd](args)


if __name__ == "__main__":
    main()
