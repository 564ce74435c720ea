"""The README's screenshots, made from real runs in a scratch copy of the project.

    python scripts/screenshots.py               # docs/images/kedro-viz.png, mlflow-compare.png
    python scripts/screenshots.py --out /tmp/shots

Two tiny runs (``--env test``, two learning rates) fill a scratch MLflow store; ``kedro viz build``
writes the static graph; both are served on 127.0.0.1 only and shot in headless Chromium (Debian's
``chromium``: ``scripts/install_chromium.sh``). The browser tests in ``tests/ui`` drive the same
functions, so the script that draws the README is the one that is tested.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``): no port to
open, no websocket library, and the script waits for the rendered text instead of guessing a
time budget.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import functools
import http.server
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

# scripts/ is not a package: put it on the path, also when the browser tests load this file
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scratch_project import QUIET_ENV, ROOT, kedro, make_project  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
WINDOW = (1400, 900)  # px
# The training chain only: the default pipeline grows (fine-tuning variants, ...) and the pages
# need one tracked run with curves and test metrics, in seconds.
TINY_RUN = ("run", "--env", "test", "--pipelines", "ingest,prepare,build,train,evaluate")
COMPARED_LRS = ("0.1", "0.05")  # the two runs of the compare view differ in train.lr only
# Browser switches for these machines: no sandbox (root in a container), no GPU, no network
# beyond the page itself.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--hide-scrollbars", "--remote-debugging-pipe")
SETTLE_SECONDS = 2.0  # after the text shows: kedro-viz fades nodes in, MLflow draws its charts


# ---------- the project and its MLflow store ----------

def tracked_runs(project: Path, lrs: tuple[str, ...] = COMPARED_LRS[:1]) -> tuple[str, list[str]]:
    """One tiny tracked run per learning rate; the experiment's id and the run ids, oldest
    first."""
    from mlflow.tracking import MlflowClient  # imported late: mlflow takes seconds to import

    for lr in lrs:
        kedro(project, *TINY_RUN, "--params", f"train.lr={lr}")
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    [experiment] = [e for e in client.search_experiments() if e.name == "deepvision"]
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return experiment.experiment_id, [run.info.run_id for run in runs]


# ---------- servers on 127.0.0.1, always stopped ----------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 from a thread of this process; its URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per asset would bury a failing test's output


@contextmanager
def mlflow_ui(store: Path, log: Path, timeout: float = 90) -> Iterator[str]:
    """``mlflow ui`` on the SQLite store ``store``, on 127.0.0.1; its URL once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{store}",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "w") as out:
        # Its own session, so stopping it also stops the uvicorn worker it forks.
        process = subprocess.Popen(command, cwd=store.parent, env={**os.environ, **QUIET_ENV},
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_until_up(url + "health", process, log, timeout)
        yield url
    finally:
        _stop_group(process)


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow ui exited with {process.returncode}:\n"
                               f"{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process group, then SIGKILL to whatever outlived it for 10 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    process.wait()


# ---------- headless Chromium over the DevTools protocol ----------

class PageNotReady(AssertionError):
    """The page never showed what was expected; carries the text it did show."""


class Chromium:
    """One headless Chromium with a fresh profile and one tab; ``with Chromium() as browser``.

    The DevTools protocol runs over fds 3 (commands in) and 4 (replies out) of the browser, as
    ``--remote-debugging-pipe`` expects: JSON messages ended by a NUL byte.
    """

    def __init__(self, window: tuple[int, int] = WINDOW, scale: float = 1,
                 timeout: float = 60) -> None:
        self.window, self.scale, self.timeout = window, scale, timeout
        self._next_id, self._buffer, self._session = 0, b"", None

    def __enter__(self) -> Chromium:
        if not CHROMIUM.exists():
            raise FileNotFoundError(f"{CHROMIUM} is missing: run scripts/install_chromium.sh")
        self._profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        self._pid, self._to_browser, self._from_browser = self._spawn()
        try:
            target = self.send("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.send("Target.attachToTarget", targetId=target,
                                      flatten=True)["sessionId"]
            self.send("Page.enable")
            width, height = self.window
            self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=self.scale, mobile=False)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _spawn(self) -> tuple[int, int, int]:
        # posix_spawn places the pipe ends at exactly fds 3 and 4; the ends are first moved to
        # fds >= 10 so that neither dup2 overwrites the other. setsid: one group to stop.
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)
        width, height = self.window
        argv = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}", "about:blank"]
        actions = [(os.POSIX_SPAWN_DUP2, high_r, 3), (os.POSIX_SPAWN_DUP2, high_w, 4),
                   (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 2, str(self._profile / "stderr.log"),
                    os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
        try:
            pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions, setsid=True)
        finally:
            os.close(high_r)
            os.close(high_w)
        return pid, to_browser_w, from_browser_r

    def __exit__(self, *exc: object) -> None:
        try:
            self.send("Browser.close", session=False, timeout=5)
        except (OSError, TimeoutError, RuntimeError):
            pass
        finally:
            self._reap()
            os.close(self._to_browser)
            os.close(self._from_browser)
            shutil.rmtree(self._profile, ignore_errors=True)

    def _reap(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.waitpid(self._pid, os.WNOHANG) == (0, 0):
            time.sleep(0.1)
        with suppress(ProcessLookupError):  # the renderer and GPU helpers share its group
            os.killpg(self._pid, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(self._pid, 0)

    # -- the protocol --

    def send(self, method: str, session: bool = True, timeout: float | None = None,
             **params: object) -> dict:
        """One DevTools command to the tab (or to the browser: ``session=False``); its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session and self._session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited: {self.stderr()[-2000:]}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def stderr(self) -> str:
        return (self._profile / "stderr.log").read_text(errors="replace")

    # -- what a test or the script does with a page --

    def evaluate(self, expression: str) -> object:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, shows: tuple[str, ...], before_load: str = "") -> str:
        """Loads ``url`` and waits until it shows every string of ``shows``; returns its text.
        ``before_load`` is a script run in the page before the app's own."""
        if before_load:
            self.send("Page.addScriptToEvaluateOnNewDocument", source=before_load)
        self.send("Page.navigate", url=url)
        return self.wait_for(shows)

    def wait_for(self, shows: tuple[str, ...]) -> str:
        """Waits until the rendered text shows every string of ``shows``; returns that text."""
        deadline, text = time.monotonic() + self.timeout, ""
        while time.monotonic() < deadline:
            text = self.text()
            if all(s in text for s in shows):
                time.sleep(SETTLE_SECONDS)
                return self.text()
            time.sleep(0.5)
        missing = [s for s in shows if s not in text]
        raise PageNotReady(f"{self.evaluate('location.href')} does not show {missing} after "
                           f"{self.timeout:.0f} s; it shows:\n{text[:3000]}")

    def text(self) -> str:
        """The page's rendered text; empty while a page is still replacing the previous one."""
        try:
            return self.evaluate("document.body ? document.body.innerText : ''") or ""
        except RuntimeError:  # "Execution context was destroyed": a navigation under way
            return ""

    def click(self, css: str, nth: int = 0) -> bool:
        """A mouse click (pressed, released) at the centre of the ``nth`` element matching
        ``css``, as a person clicks: component libraries ignore a script's ``element.click()``.
        False when there is no such element."""
        centre = self.evaluate(
            f"(e => {{ if (!e) return null; e.scrollIntoView({{block: 'nearest'}});"
            f" const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];"
            f" }})(document.querySelectorAll({json.dumps(css)})[{nth}])")
        if not centre:
            return False
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=centre[0], y=centre[1],
                      button="left", clickCount=1)
        time.sleep(0.5)
        return True

    def type(self, text: str, then: str = "") -> None:
        """Types ``text`` into the focused element, then presses the key ``then`` (``Enter``,
        ``Escape``)."""
        self.send("Input.insertText", text=text)
        if then:
            code = {"Enter": 13, "Escape": 27}[then]
            for kind in ("keyDown", "keyUp"):
                self.send("Input.dispatchKeyEvent", type=kind, key=then, code=then,
                          windowsVirtualKeyCode=code)
        time.sleep(0.5)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    @contextmanager
    def screenshot_at_end(self, path: Path) -> Iterator[None]:
        """A screenshot when the block ends, passed or failed: a failing page is worth a look."""
        try:
            yield
        finally:
            self.screenshot(path)


# ---------- the two pages ----------

# The README's graph: kedro-viz's saved settings (localStorage "KedroViz", read on start) without
# the six-step tour of new features, the sidebar and the minimap, so the graph gets the width.
README_VIZ = ("localStorage.setItem('KedroViz', JSON.stringify({showFeatureHints: false, "
              "visible: {sidebar: false, miniMap: false}}));")


def viz_build(project: Path) -> Path:
    """``kedro viz build`` in ``project``: the static site's folder."""
    kedro(project, "viz", "build")
    return project / "build"


def viz_nodes_expected(site: Path, pipeline: str = "__default__") -> set[str]:
    """What the graph of ``pipeline`` draws, from the site's own API: its task nodes outside any
    namespace, and one box per top-level namespace."""
    graph = json.loads((site / "api" / "main").read_text())
    names = set()
    for node in graph["nodes"]:
        if node["type"] == "task" and pipeline in node["pipelines"]:
            namespaces = node.get("modular_pipelines") or []
            names.add(namespaces[0].split(".")[0] if namespaces else node["full_name"])
    return names


def viz_nodes_drawn(browser: Chromium) -> set[str]:
    """The nodes of the drawn graph (tasks and namespace boxes, not datasets), by full name and
    by id: a namespace box's id is the namespace."""
    return set(browser.evaluate(
        "[...document.querySelectorAll('g.pipeline-node:not(.pipeline-node--data)"
        ":not(.pipeline-node--parameters)')].flatMap(g => [g.dataset.nodeFullname, g.dataset.id])"))


def mlflow_run_url(base: str, experiment_id: str, run_id: str) -> str:
    # workflowType: the "Model training" view of MLflow 3 (its default is the GenAI one).
    return f"{base}#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


def mlflow_compare_url(base: str, experiment_id: str, run_ids: list[str]) -> str:
    query = urllib.parse.urlencode({"runs": json.dumps(run_ids),
                                    "experiments": json.dumps([experiment_id]),
                                    "workflowType": "machine_learning"})
    return f"{base}#/compare-runs?{query}"


def open_mlflow(browser: Chromium, url: str, shows: tuple[str, ...]) -> str:
    """An MLflow page with its assistant side panel closed (MLflow 3 opens it for a local
    server, over a quarter of the page); the page's text."""
    text = browser.open(url, shows)
    if browser.click('[data-component-id="mlflow.assistant.chat_panel.close"]'):
        text = browser.text()
    return text


def search_metric(browser: Chromium, metric: str) -> str:
    """Types ``metric`` into a run page's metric search box, as a person looks a metric up in a
    table that renders only its first rows; the page's text."""
    browser.click('input[placeholder="Search metrics"]')
    browser.type(metric)
    return browser.wait_for((metric,))


# The compare view's second select is its parallel-coordinates plot's metrics.
PLOT_METRICS = ".du-bois-light-select ~ .du-bois-light-select"


def plot_metric(browser: Chromium, metric: str) -> bool:
    """The compare view's parallel-coordinates plot drawn against ``metric`` rather than the
    first metric logged; False when MLflow's page no longer has the expected select."""
    for _ in range(5):  # the default choice is one metric; a bound in case a click does nothing
        if not browser.click(f"{PLOT_METRICS} .du-bois-light-select-selection-item-remove"):
            break
    if not browser.click(f"{PLOT_METRICS} .du-bois-light-select-selector"):
        return False
    browser.type(metric, then="Enter")
    browser.type("", then="Escape")
    browser.evaluate("document.activeElement.blur()")  # no text cursor in the picture
    chosen = browser.evaluate(f"document.querySelector({json.dumps(PLOT_METRICS)}).innerText")
    return metric in (chosen or "")


# ---------- the README's screenshots ----------

def main(out: Path) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="deepvision-screenshots-") as tmp:
        project = make_project(Path(tmp) / "project")
        experiment_id, run_ids = tracked_runs(project, COMPARED_LRS)
        site = viz_build(project)
        # Twice the pixels: the whole default pipeline fits the window only at about a third of
        # kedro-viz's zoom, where 1x labels blur.
        with static_site(site) as url, Chromium(scale=2) as browser, \
                browser.screenshot_at_end(out / "kedro-viz.png"):
            browser.open(url, ("train_model", "split_dataset"), before_load=README_VIZ)
        with mlflow_ui(project / "mlflow.db", Path(tmp) / "mlflow.log") as url, \
                Chromium(window=(1400, 1100)) as browser, \
                browser.screenshot_at_end(out / "mlflow-compare.png"):
            open_mlflow(browser, mlflow_compare_url(url, experiment_id, run_ids),
                        ("Comparing 2 Runs", "train.lr"))
            if not plot_metric(browser, "test_accuracy"):
                print("note: the compare plot shows MLflow's default metric", file=sys.stderr)
    print(f"wrote {out / 'kedro-viz.png'} and {out / 'mlflow-compare.png'} "
          f"in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    main(parser.parse_args().out)
