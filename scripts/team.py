"""A team's servers rehearsed on one machine: PostgreSQL and an MLflow tracking server, on loopback.

    python scripts/team.py up     # make team-up: start both (create the cluster on first use)
    python scripts/team.py down   # make team-down: stop both; the data stays in data/team/
    python scripts/team.py env    # the variables `kedro run --env team` reads, as export lines

PostgreSQL is Debian's package (installed with apt-get when missing and run as root): the cluster
lives in ``data/team/postgres`` and listens on 127.0.0.1 only, on a free port. It holds two
databases: ``mlflow`` (the tracking server's backend store) and ``optuna`` (``tune.storage``).
The MLflow server serves its artifacts itself from ``data/team/mlartifacts`` (clients upload over
HTTP, so no one needs the server's disk). Ports and the generated password are kept in
``data/team/team.json`` (mode 600; data/ is never committed), so ``up`` after ``down`` serves the
same addresses. A real team skips this script and exports the same variables for its own servers.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB_USER = "deepvision"
DATABASES = ("mlflow", "optuna")
SYSTEM_USER = "postgres"  # the server refuses to run as root; Debian's package creates this user
START_TIMEOUT_S = 120     # MLflow creates its tables on the first start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "env"))
    parser.add_argument("--project", type=Path, default=ROOT, help="project folder (default: this)")
    args = parser.parse_args()
    team = Team(args.project.resolve())
    {"up": team.up, "down": team.down, "env": team.print_env}[args.command]()


class Team:
    def __init__(self, project: Path) -> None:
        self.dir = project / "data" / "team"
        self.cluster = self.dir / "postgres" / "data"
        self.state_file = self.dir / "team.json"

    # ---------- commands ----------

    def up(self) -> None:
        state = self._state()
        self._start_postgres(state)
        self._create_databases(state)
        self._start_mlflow(state)
        print(f"PostgreSQL on 127.0.0.1:{state['pg_port']}, MLflow on "
              f"http://127.0.0.1:{state['mlflow_port']}. Before `kedro run --env team`:\n"
              f'  eval "$(python scripts/team.py env)"   # or: eval "$(make -s team-env)"')

    def down(self) -> None:
        if not self.state_file.exists():
            print("Nothing to stop: no data/team/team.json.")
            return
        self._stop_mlflow(json.loads(self.state_file.read_text()))
        self.stop_postgres()
        print("Team servers stopped; their data stays in", self.dir)

    def env(self) -> dict[str, str]:
        state = json.loads(self.state_file.read_text())
        return {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{state['mlflow_port']}",
                "PGHOST": "127.0.0.1", "PGPORT": str(state["pg_port"]), "PGUSER": DB_USER,
                "PGPASSWORD": state["password"]}

    def print_env(self) -> None:
        for key, value in self.env().items():
            print(f"export {key}={value}")

    # ---------- PostgreSQL ----------

    def _state(self) -> dict:
        if self.state_file.exists():
            state = json.loads(self.state_file.read_text())
        else:
            state = {"password": secrets.token_urlsafe(24)}
        for key in ("pg_port", "mlflow_port"):
            if key not in state or not (_port_free(state[key]) or self._ours(key)):
                state[key] = _free_port()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state))
        self.state_file.chmod(0o600)
        return state

    def _ours(self, key: str) -> bool:
        return self._postgres_running() if key == "pg_port" else self._mlflow_running()

    def _start_postgres(self, state: dict) -> None:
        if not (self.cluster / "PG_VERSION").exists():
            self._init_cluster(state["password"])
        if self._postgres_running():
            return
        self._pg("pg_ctl", "-D", str(self.cluster), "-l", str(self.cluster.parent / "server.log"),
                 "-w", "-o", f"-c listen_addresses=127.0.0.1 -p {state['pg_port']} "
                 f"-k {self.cluster.parent}", "start")

    def _init_cluster(self, password: str) -> None:
        home = self.cluster.parent
        home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(home, SYSTEM_USER, SYSTEM_USER)
            _check_reachable(home)
        secret = home / "password"
        secret.write_text(password)
        if os.geteuid() == 0:
            shutil.chown(secret, SYSTEM_USER)
        secret.chmod(0o600)
        try:
            self._pg("initdb", "-D", str(self.cluster), "-U", DB_USER, f"--pwfile={secret}",
                     "--auth=scram-sha-256", "-E", "UTF8", "--no-instructions")
        finally:
            secret.unlink()

    def stop_postgres(self) -> None:
        """Stop the database now, disconnecting its clients (the MLflow server keeps running)."""
        if self._postgres_running():
            self._pg("pg_ctl", "-D", str(self.cluster), "-m", "fast", "-w", "stop")

    def _create_databases(self, state: dict) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=state["pg_port"], user=DB_USER,
                             password=state["password"], dbname="postgres",
                             autocommit=True) as conn:
            have = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
            for name in DATABASES:
                if name not in have:
                    conn.execute(f'CREATE DATABASE "{name}"')

    def _postgres_running(self) -> bool:
        return (self.cluster / "PG_VERSION").exists() and self._pg(
            "pg_ctl", "-D", str(self.cluster), "status", check=False).returncode == 0

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(_postgres_tool(tool)), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd="/")
        if check and result.returncode != 0:
            raise SystemExit(f"{tool} failed: {result.stderr.strip() or result.stdout.strip()}"
                             f" (log: {self.cluster.parent / 'server.log'})")
        return result

    # ---------- MLflow ----------

    def _start_mlflow(self, state: dict) -> None:
        if self._mlflow_running() and state.get("mlflow_store_port") == state["pg_port"]:
            return
        self._stop_mlflow(state)  # if it runs, it still looks for the database on its old port
        artifacts = self.dir / "mlartifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        # The password reaches libpq through PGPASSWORD: command lines are visible to everyone (ps).
        store = f"postgresql+psycopg://{DB_USER}@127.0.0.1:{state['pg_port']}/mlflow"
        env = {**os.environ, "PGPASSWORD": state["password"],
               "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        log = (self.dir / "mlflow.log").open("ab")
        mlflow = Path(sys.executable).with_name("mlflow")
        process = subprocess.Popen(
            [str(mlflow), "server", "--backend-store-uri", store, "--artifacts-destination",
             str(artifacts), "--host", "127.0.0.1", "--port", str(state["mlflow_port"]),
             "--workers", "1"], stdout=log, stderr=log, env=env, start_new_session=True)
        state["mlflow_pid"], state["mlflow_store_port"] = process.pid, state["pg_port"]
        self.state_file.write_text(json.dumps(state))
        _wait(lambda: self._mlflow_running() or process.poll() is not None, START_TIMEOUT_S,
              "the MLflow server to answer")
        if process.poll() is not None:
            raise SystemExit(f"the MLflow server exited ({process.returncode}); see "
                             f"{self.dir / 'mlflow.log'}")

    def _stop_mlflow(self, state: dict) -> None:
        if _alive(state.get("mlflow_pid")):
            os.killpg(state["mlflow_pid"], signal.SIGTERM)  # the server and its workers
            _wait(lambda: not _alive(state["mlflow_pid"]), 30, "the MLflow server to stop")

    def _mlflow_running(self) -> bool:
        if not self.state_file.exists():
            return False
        state = json.loads(self.state_file.read_text())
        if not _alive(state.get("mlflow_pid")):
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{state['mlflow_port']}/health",
                                        timeout=2) as response:
                return response.status == 200
        except OSError:
            return False


def _postgres_tool(name: str) -> Path:
    """``name`` from Debian's PostgreSQL (newest version), installing the package if missing."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1])
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(f"PostgreSQL's {name} is missing: install Debian's package "
                         "(sudo apt-get install postgresql) and run again")
    print("Installing Debian's postgresql package ...", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, env=env)
    return _postgres_tool(name)


def _check_reachable(folder: Path) -> None:
    """The server runs as ``postgres``: every parent of its folder must let that user through."""
    for parent in folder.parents:
        if not parent.stat().st_mode & 0o001:
            raise SystemExit(f"{parent} is closed to other users (mode "
                             f"{oct(parent.stat().st_mode & 0o777)}), so PostgreSQL, running as "
                             f"'{SYSTEM_USER}', cannot reach {folder}: chmod o+x {parent} or use "
                             "a project folder elsewhere")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # As servers do: a port whose last connections linger in TIME_WAIT is free to listen on.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting {timeout_s:.0f} s for {what}")
        time.sleep(0.5)


if __name__ == "__main__":
    main()
