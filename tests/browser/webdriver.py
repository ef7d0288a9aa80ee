"""A minimal W3C WebDriver client (standard library only) for Debian's chromedriver driving
/usr/bin/chromium headless: enough to open file:// pages, run scripts, click, type, read the
browser's console log and take screenshots."""

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

# Flags that matter on a closed network (no background connections, no component updates)
# and as root in a container (no sandbox, no /dev/shm reliance).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]


class WebDriverError(RuntimeError):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One chromium session behind one chromedriver process; use as a context manager."""

    def __init__(self, chromium="/usr/bin/chromium", chromedriver=None, width=1280, height=900):
        self.chromium = chromium
        self.chromedriver = chromedriver or shutil.which("chromedriver")
        if not self.chromedriver:
            raise WebDriverError("chromedriver not found (Debian package chromium-driver)")
        self.size = (width, height)
        self.profile = tempfile.TemporaryDirectory(prefix="bilens-chromium-")
        self.port = free_port()
        self.process = None
        self.session = None

    def __enter__(self):
        self.process = subprocess.Popen(
            [self.chromedriver, f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                if self._call("GET", "/status")["ready"]:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                raise WebDriverError("chromedriver did not start within 20 s")
            time.sleep(0.1)
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": CHROMIUM_FLAGS
                + [f"--user-data-dir={self.profile.name}", f"--window-size={self.size[0]},{self.size[1]}"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }
        self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]
        return self

    def __exit__(self, *exc):
        try:
            if self.session:
                self._call("DELETE", f"/session/{self.session}")
        finally:
            self.process.terminate()
            self.process.wait(10)
            self.profile.cleanup()

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            detail = json.loads(e.read() or b"{}").get("value", {})
            raise WebDriverError(f"{method} {path}: {detail.get('error')}: {detail.get('message', '')[:500]}") from None

    def _s(self, path, body=None, method="POST"):
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url):
        self._s("/url", {"url": url})

    def run(self, script, *args):
        """Runs a function body in the page and returns its value."""
        return self._s("/execute/sync", {"script": script, "args": list(args)})

    def wait(self, script, timeout=30.0, what="a condition"):
        """Polls a script until it returns something truthy; returns that."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.run(script)
            if value:
                return value
            if time.monotonic() > deadline:
                raise WebDriverError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.02)

    def find(self, css):
        return self._s("/element", {"using": "css selector", "value": css})[ELEMENT]

    def click(self, css):
        self._s(f"/element/{self.find(css)}/click", {})

    def type(self, css, text):
        element = self.find(css)
        self._s(f"/element/{element}/clear", {})
        if text:
            self._s(f"/element/{element}/value", {"text": text})

    def select(self, css, value):
        self.run(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1];"
            "s.dispatchEvent(new Event('change'));",
            css,
            value,
        )

    def resize(self, width, height):
        self._s("/window/rect", {"width": width, "height": height})

    def console(self):
        """The browser's console entries since the last call (level, message)."""
        return [(e["level"], e["message"]) for e in self._s("/se/log", {"type": "browser"})]

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self._s("/screenshot", method="GET")))
