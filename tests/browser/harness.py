"""Drive the course as a student sees it: JupyterLab on 127.0.0.1, Debian's Chromium, Playwright.

Three pieces, each started and stopped by whoever owns it (the pytest fixtures in
``conftest.py``, or ``benchmarks/bench_browser.py``):

* :class:`LabServer` runs ``.venv/bin/jupyter-lab`` on a free loopback port with a random
  token, serving a **working copy** of ``notebooks/`` and ``assets/`` in a temp folder (the
  repository is never written to). Its own config, runtime, settings and workspace folders
  are temp folders too, so a developer's Jupyter setup changes nothing.
* :class:`Browser` launches the system Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``)
  through Playwright's ``executable_path``: headless, no sandbox, a fresh profile. Playwright
  never downloads a browser of its own.
* :class:`NotebookRun` opens one notebook, runs every cell through JupyterLab's own command,
  reads errors back from the notebook model, finds every live demo (a widget box holding
  sliders and an ipympl canvas) and moves its sliders with the keyboard, measuring the time
  from the key press to the first animation frame whose canvas pixels differ.

Every process is stopped through the handle that started it; anything it spawned that is still
alive afterwards (kernels, Chromium's helpers) is killed by pid, even when a test failed.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 800}
"""A laptop screen: the course must fit it with JupyterLab's file browser open."""
DARK_THEME, LIGHT_THEME = "JupyterLab Dark", "JupyterLab Light"

# JupyterLab settings for the test server: no "get notified about news?" toast and no update
# check (both would go to the network), and every cell kept in the DOM (no virtual scrolling),
# so every widget renders and can be found.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_survivors(procs: list[psutil.Process], grace: float = 5.0) -> list[int]:
    """Terminate, then kill, the processes of ``procs`` that are still running; their pids."""
    alive = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                p.terminate()
                alive.append(p)
    _, still = psutil.wait_procs(alive, timeout=grace)
    for p in still:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(still, timeout=grace)
    return [p.pid for p in alive]


# --------------------------------------------------------------------------------------------
# JupyterLab
# --------------------------------------------------------------------------------------------
class LabServer:
    """``jupyter-lab`` on 127.0.0.1 serving a temp working copy of the course."""

    def __init__(self, workdir: Path, notebooks: list[Path] | None = None) -> None:
        self.workdir = Path(workdir)
        self.root = self.workdir / "root"
        self.notebooks = list(notebooks) if notebooks is not None else sorted(
            (ROOT / "notebooks").glob("*.ipynb"))
        self.port = 0
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "jupyter-lab.log"

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> LabServer:
        (self.root / "notebooks").mkdir(parents=True, exist_ok=True)
        for nb in self.notebooks:
            shutil.copy2(nb, self.root / "notebooks" / nb.name)
        shutil.copytree(ROOT / "assets", self.root / "assets", dirs_exist_ok=True)
        settings = self.workdir / "settings"
        for rel, value in LAB_SETTINGS.items():
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        env = dict(os.environ)
        for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                         ("IPYTHONDIR", "ipython")):
            env[var] = str(self.workdir / sub)
        env.setdefault("OMP_NUM_THREADS", "1")
        exe = Path(sys.executable).with_name("jupyter-lab")
        if not exe.exists():
            exe = Path(shutil.which("jupyter-lab") or "jupyter-lab")
        self.port = free_port()
        cmd = [str(exe), "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
               "--ServerApp.port_retries=0", f"--ServerApp.root_dir={self.root}",
               f"--IdentityProvider.token={self.token}", "--LabApp.expose_app_in_browser=True",
               f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={self.workdir / 'workspaces'}",
               "--LabApp.news_url=", "--ServerApp.terminals_enabled=False"]
        if os.name == "posix" and os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter-lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter-lab not up after {timeout:.0f} s:\n"
                                       f"{self.log_tail()}") from None
                time.sleep(0.25)

    def stop(self) -> list[int]:
        """Shut the kernels down, stop the server, kill whatever it left behind; their pids."""
        if self.proc is None:
            return []
        spawned: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            spawned = psutil.Process(self.proc.pid).children(recursive=True)
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.shutdown_kernels()
            self.proc.terminate()  # jupyter-server stops its kernels on SIGTERM too
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        killed = _kill_survivors(spawned)
        self._log.close()
        self.proc = None
        return killed

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name: str) -> str:
        """The URL that opens ``notebooks/<name>`` in a fresh workspace (``?reset``)."""
        return f"{self.base_url}/lab/tree/notebooks/{name}?reset&token={self.token}"

    def api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(self.base_url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Delete every session (which shuts its kernel down)."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


# --------------------------------------------------------------------------------------------
# Chromium
# --------------------------------------------------------------------------------------------
def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None if they can."""
    if not Path(CHROMIUM).exists():
        return (f"no Chromium at {CHROMIUM}: `make test` installs Debian's (apt-get install "
                "chromium); elsewhere set CHROMIUM=/path/to/chromium")
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing: run `make setup` (it is in the dev extra)"
    return None


class Browser:
    """Chromium driven by Playwright: headless, no sandbox, a fresh profile in ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self._pw = None
        self.context = None
        self._spawned: list[psutil.Process] = []

    def start(self) -> Browser:
        from playwright.sync_api import sync_playwright

        before = {p.pid for p in psutil.Process().children(recursive=True)}
        os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        self._pw = sync_playwright().start()
        try:
            profile = self.workdir / "chromium-profile"
            profile.mkdir(parents=True, exist_ok=True)
            self.context = self._pw.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport=VIEWPORT, device_scale_factor=1, timeout=60_000)
        finally:
            self._spawned = [p for p in psutil.Process().children(recursive=True)
                             if p.pid not in before]
        return self

    def stop(self) -> list[int]:
        """Close Chromium and Playwright's driver; kill any of their processes left; pids."""
        procs = list(self._spawned)
        for p in self._spawned:  # Chromium starts a renderer per page: collect them too
            with contextlib.suppress(psutil.Error):
                procs += p.children(recursive=True)
        with contextlib.suppress(Exception):
            if self.context is not None:
                self.context.close()
        with contextlib.suppress(Exception):
            if self._pw is not None:
                self._pw.stop()
        self.context = self._pw = None
        return _kill_survivors(procs)

    def __enter__(self) -> Browser:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# One notebook in the browser
# --------------------------------------------------------------------------------------------
# Page helpers, added to the JupyterLab page once it has loaded. `__btPanel(path)` is the
# notebook panel showing `path` (JupyterLab exposes the app as window.jupyterapp).
_HELPERS_JS = """
window.__btPanel = (path) => {
  if (!window.jupyterapp) return null;
  for (const w of window.jupyterapp.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.content.widgets) return w;
  }
  return null;
};
window.__btCanvases = (root) => [...root.querySelectorAll('.jupyter-matplotlib-canvas-div')]
  .map(div => div.querySelector('canvas')).filter(c => c && c.width > 0 && c.height > 0);
// a fingerprint of a demo's figure pixels (the first canvas of each figure holds the image)
window.__btSignature = (root) => window.__btCanvases(root).map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0;
  for (let k = 0; k < d.length; k += 4)
    h = (Math.imul(h, 31) + d[k] + 7 * d[k + 1] + 13 * d[k + 2] + 17 * d[k + 3]) | 0;
  return `${c.width}x${c.height}:${h}`;
}).join('|');
// how many non-white pixels each figure of a demo has drawn
window.__btInk = (root) => window.__btCanvases(root).map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let k = 0; k < d.length; k += 4)
    if (d[k + 3] > 0 && (d[k] < 250 || d[k + 1] < 250 || d[k + 2] < 250)) ink++;
  return ink;
});
// the demo's readout line: the HTML widget that holds a <code> (else the first HTML widget)
window.__btReadout = (i) => {
  const root = document.querySelector(`[data-bt-demo="${i}"]`);
  const code = root.querySelector('.widget-html-content code');
  const html = code ? code.closest('.widget-html-content') : root.querySelector('.widget-html-content');
  return html ? html.textContent.trim() : '';
};
window.__btDrawn = (i) => {
  const root = document.querySelector(`[data-bt-demo="${i}"]`);
  if (!root) return false;
  const ink = window.__btInk(root);
  return ink.length > 0 && ink.every(n => n > 200);
};
"""

# Start JupyterLab's "run all cells" once the kernel is ready; window.__btRun says when the
# command's promise settled (it resolves after the last cell ran, or stops at an error).
_RUN_ALL_JS = """(path) => {
  window.__btRun = {done: false, error: null};
  (async () => {
    const panel = window.__btPanel(path);
    await panel.context.ready;
    await panel.sessionContext.ready;
    await window.jupyterapp.commands.execute('notebook:run-all-cells');
  })().then(() => { window.__btRun.done = true; },
            (e) => { window.__btRun.done = true; window.__btRun.error = String(e); });
}"""

# Open JupyterLab's log console (it shows the active notebook's log) and read its entries.
_LOG_JS = """async () => {
  await window.jupyterapp.commands.execute('logconsole:open', {insertMode: 'split-bottom'});
  await new Promise(done => setTimeout(done, 500));
  return [...document.querySelectorAll('.jp-LogConsolePanel .jp-OutputArea-child')]
    .map(e => e.innerText);
}"""

_STATE_JS = """(path) => {
  const panel = window.__btPanel(path);
  if (!panel) return null;
  const cells = panel.content.widgets.map((cell, index) => {
    const m = cell.model;
    const out = {index, type: m.type, executionCount: null, errors: [], pending: false, empty: false};
    if (m.type !== 'code') return out;
    out.executionCount = m.executionCount;
    out.empty = m.sharedModel.getSource().trim() === '';
    out.pending = cell.promptNode ? cell.promptNode.textContent.includes('*') : false;
    for (const o of m.outputs.toJSON()) {
      if (o.output_type === 'error') out.errors.push(`${o.ename}: ${o.evalue}`);
      const text = Array.isArray(o.text) ? o.text.join('') : (o.text || '');
      if (o.output_type === 'stream' && o.name === 'stderr' && text.includes('Traceback'))
        out.errors.push('stderr: ' + text.trim().split('\\n').pop());
    }
    cell.node.querySelectorAll('.jupyter-widgets-error-widget').forEach(
      e => out.errors.push('widget: ' + e.textContent.trim().slice(0, 300)));
    return out;
  });
  return {status: panel.sessionContext.kernelDisplayStatus, cells};
}"""

# Find the live demos: the innermost widget box that holds a slider handle and an ipympl
# figure. Tag them (and their sliders) with data attributes so Playwright can address them.
_DEMOS_JS = """() => {
  const roots = [];
  document.querySelectorAll('.jp-Notebook .jupyter-matplotlib').forEach(fig => {
    let el = fig.parentElement;
    while (el && !el.classList.contains('jp-OutputArea-output')) {
      if (el.classList.contains('widget-box') && el.querySelector('.noUi-handle')) break;
      el = el.parentElement;
    }
    if (el && !el.classList.contains('jp-OutputArea-output') && !roots.includes(el)) roots.push(el);
  });
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
  return roots.map((root, i) => {
    root.setAttribute('data-bt-demo', String(i));
    const cell = root.closest('.jp-Cell');
    const sliders = [...root.querySelectorAll('.noUi-handle')].map((h, j) => {
      h.setAttribute('data-bt-slider', String(j));
      const box = h.closest('.widget-slider');
      const label = box ? box.querySelector('.widget-label') : null;
      return {index: j, label: label ? label.textContent.trim() : `slider ${j}`};
    });
    return {index: i, cell: cells.indexOf(cell), sliders,
            canvases: root.querySelectorAll('.jupyter-matplotlib-canvas-div canvas').length};
  });
}"""

# Arm the probe: remember the figure's fingerprint, time the key press on the slider handle,
# then check every animation frame until the pixels differ.
_ARM_JS = """([demo, slider]) => {
  const root = document.querySelector(`[data-bt-demo="${demo}"]`);
  const handle = root.querySelector(`[data-bt-slider="${slider}"]`);
  const probe = {t0: null, t1: null, base: window.__btSignature(root), frames: 0, done: false};
  window.__btProbe = probe;
  handle.addEventListener('keydown', () => { if (probe.t0 === null) probe.t0 = performance.now(); },
                          {capture: true, once: true});
  const tick = () => {
    if (probe.done) return;
    if (probe.t0 !== null) {
      probe.frames++;
      if (window.__btSignature(root) !== probe.base) {
        probe.t1 = performance.now(); probe.done = true; return;
      }
      if (performance.now() - probe.t0 > 60000) { probe.done = true; return; }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

_SLIDER_JS = """([demo, slider]) => {
  const root = document.querySelector(`[data-bt-demo="${demo}"]`);
  const handle = root.querySelector(`[data-bt-slider="${slider}"]`);
  const target = handle.closest('.noUi-target');
  const api = target ? target.noUiSlider : null;
  const box = handle.closest('.widget-slider');
  const shown = box ? box.querySelector('.widget-readout') : null;
  return {
    raw: api ? Number(api.get(true)) : Number(handle.getAttribute('aria-valuetext')),
    step: api ? Number(api.options.step) : NaN,
    min: api ? Number(api.options.range.min) : Number(handle.getAttribute('aria-valuemin')),
    max: api ? Number(api.options.range.max) : Number(handle.getAttribute('aria-valuemax')),
    shown: shown ? (shown.textContent || shown.value || '').trim() : '',
    readout: window.__btReadout(demo),
  };
}"""

# Everything in an output area fits the notebook column: no sideways scroll, nothing cut off
# at the edges, no label or readout whose text is clipped, readouts on one line.
_FIT_JS = """() => {
  const problems = [];
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
  const where = (el) => `cell ${cells.indexOf(el.closest('.jp-Cell'))}`;
  const visible = (el) => el.offsetParent !== null && el.getClientRects().length > 0 &&
                          !el.closest('.cl-sr-only');
  const text = (el) => (el.textContent || '').trim().slice(0, 60);
  document.querySelectorAll('.jp-Notebook .jp-OutputArea-output').forEach(out => {
    if (!visible(out)) return;
    if (out.scrollWidth > out.clientWidth + 1)
      problems.push(`${where(out)}: the output area scrolls sideways (${out.scrollWidth} px of content ` +
                    `in ${out.clientWidth} px)`);
    const box = out.getBoundingClientRect();
    out.querySelectorAll('canvas, img, svg, .widget-label, .widget-readout, .widget-html-content, ' +
                         '.widget-slider, .jp-RenderedText pre').forEach(el => {
      if (!visible(el)) return;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) return;
      if (r.left < box.left - 1 || r.right > box.right + 1)
        problems.push(`${where(out)}: ${el.tagName.toLowerCase()}.${[...el.classList].join('.')} ` +
                      `'${text(el)}' reaches past the column (${Math.round(r.left - box.left)}..` +
                      `${Math.round(r.right - box.left)} px of ${Math.round(box.width)})`);
      if (el.matches('.widget-label, .widget-readout') && el.scrollWidth > el.clientWidth + 1)
        problems.push(`${where(out)}: label '${text(el)}' is cut off (${el.scrollWidth} px of text in ` +
                      `${el.clientWidth} px)`);
    });
    out.querySelectorAll('.widget-html-content code').forEach(code => {
      if (!visible(code)) return;
      const line = parseFloat(getComputedStyle(code).lineHeight) || 16;
      if (code.getBoundingClientRect().height > 1.6 * line)
        problems.push(`${where(out)}: the readout takes more than one line: '${text(code)}'`);
    });
  });
  return problems;
}"""

# The accessible name of each live demo's figure (its canvas's aria-label).
_ARIA_JS = """(i) => {
  const root = document.querySelector(`[data-bt-demo="${i}"]`);
  return [...root.querySelectorAll('.jupyter-matplotlib-canvas-div')].map(div => {
    const c = div.querySelector('canvas');
    return c ? {role: c.getAttribute('role'), label: c.getAttribute('aria-label') || ''} : null;
  });
}"""

# Markdown images of the notebook and their alt text.
_IMAGES_JS = """() => [...document.querySelectorAll('.jp-Notebook .jp-MarkdownOutput img')].map(img => ({
  src: img.getAttribute('src') || '', alt: (img.getAttribute('alt') || '').trim(),
  complete: img.complete, width: img.naturalWidth}))"""

# WCAG contrast of text against what is behind it: the readouts, slider labels and values
# (CSS colours), and, inside each figure and static image, its darkest ink against its own
# background (the most common colour).
_CONTRAST_JS = """() => {
  const rgb = (s) => { const m = s.match(/[\\d.]+/g); return m ? m.slice(0, 4).map(Number) : [0, 0, 0, 0]; };
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0.5) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const results = [];
  document.querySelectorAll('.jp-Notebook .cl-live-demo').forEach((demo, i) => {
    demo.querySelectorAll('.widget-label, .widget-readout, .cl-demo-readout').forEach(el => {
      if (!el.textContent.trim()) return;
      results.push({what: `demo ${i} text '${el.textContent.trim().slice(0, 30)}'`,
                    ratio: ratio(rgb(getComputedStyle(el).color), background(el))});
    });
  });
  const ink = (what, el, w, h) => {
    const c = document.createElement('canvas'); c.width = w; c.height = h;
    const ctx = c.getContext('2d'); ctx.drawImage(el, 0, 0, w, h);
    const d = ctx.getImageData(0, 0, w, h).data;
    const counts = new Map(); let opaque = 0;
    for (let k = 0; k < d.length; k += 4) {
      if (d[k + 3] > 250) opaque++;
      const key = (d[k] << 16) | (d[k + 1] << 8) | d[k + 2];
      counts.set(key, (counts.get(key) || 0) + 1);
    }
    const bgKey = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
    const bg = [bgKey >> 16, (bgKey >> 8) & 255, bgKey & 255];
    let best = 1;
    for (const [key, n] of counts)
      if (n > 20) best = Math.max(best, ratio(bg, [key >> 16, (key >> 8) & 255, key & 255]));
    results.push({what, ratio: best, opaque: opaque / (w * h)});
  };
  document.querySelectorAll('.jp-Notebook .cl-live-demo .jupyter-matplotlib-canvas-div').forEach((div, i) => {
    const c = div.querySelector('canvas'); if (c && c.width) ink(`demo ${i} figure`, c, c.width, c.height);
  });
  document.querySelectorAll('.jp-Notebook .jp-MarkdownOutput img').forEach(img => {
    if (img.complete && img.naturalWidth)
      ink(`image ${img.getAttribute('src')}`, img, img.naturalWidth, img.naturalHeight);
  });
  return results;
}"""


@dataclass
class MoveResult:
    """What one key press on one slider did."""

    demo: int
    slider: str
    key: str
    before: dict
    after: dict
    latency_ms: float | None
    """Key press -> first frame whose canvas pixels differ (None: they never changed)."""
    pixels_changed: int
    """Pixels that differ between screenshots of the figure before and after."""
    readout_ok: bool
    """The readout line changed and prints the slider's new value."""
    screenshot: Path | None = None


@dataclass
class NotebookRun:
    """One notebook opened in JupyterLab in its own browser tab."""

    server: LabServer
    browser: Browser
    name: str
    console: list[tuple[str, str]] = field(default_factory=list)
    page: Any = None
    run_seconds: float = 0.0
    dirty_on_open: bool = False

    @property
    def path(self) -> str:
        return f"notebooks/{self.name}"

    def open(self, timeout: float = 120.0) -> NotebookRun:
        page = self.browser.context.new_page()
        self.page = page
        page.on("console", lambda m: self.console.append((m.type, m.text)))
        page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))
        page.goto(self.server.notebook_url(self.name), timeout=timeout * 1000)
        page.add_script_tag(content=_HELPERS_JS)
        page.wait_for_function("(path) => window.__btPanel(path) !== null", arg=self.path,
                               timeout=timeout * 1000)
        # the file browser open, as a student has it (the layout checks count its width)
        page.evaluate("() => { const fb = document.querySelector('.jp-FileBrowser'); if (!fb || !fb."
                      "offsetParent) return window.jupyterapp.commands.execute('filebrowser:activate'); }")
        page.wait_for_function("() => document.querySelector('.jp-FileBrowser')?.offsetParent != null",
                               timeout=timeout * 1000)
        page.wait_for_function("(path) => window.__btPanel(path).context.isReady", arg=self.path,
                               timeout=timeout * 1000)
        # JupyterLab writes the kernel's language_info into the notebook once the kernel is
        # connected: a notebook stored otherwise turns modified then
        page.wait_for_function("(path) => window.__btPanel(path).sessionContext.kernelDisplayStatus"
                               " === 'idle'", arg=self.path, timeout=timeout * 1000)
        page.wait_for_timeout(1000)
        self.dirty_on_open = self.dirty()
        return self

    def run_all(self, timeout: float = 900.0) -> dict:
        """Run every cell (JupyterLab's run-all command); wait for the kernel to go idle."""
        t0 = time.perf_counter()
        self.page.evaluate(_RUN_ALL_JS, self.path)
        try:
            self.page.wait_for_function("() => window.__btRun.done", timeout=timeout * 1000,
                                        polling=250)
        except Exception as err:
            raise TimeoutError(f"{self.name}: cells still running after {timeout:.0f} s") from err
        deadline = time.monotonic() + 60
        while True:
            state = self.state()
            busy = state["status"] not in ("idle",) or any(c["pending"] for c in state["cells"])
            if not busy:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: kernel still {state['status']} after the run")
            time.sleep(0.25)
        self.run_seconds = time.perf_counter() - t0
        return state

    def state(self) -> dict:
        return self.page.evaluate(_STATE_JS, self.path)

    def cell_problems(self) -> list[str]:
        """Error outputs, widget errors, and code cells that never ran."""
        problems = []
        for c in self.state()["cells"]:
            problems += [f"cell {c['index']}: {e}" for e in c["errors"]]
            if c["type"] == "code" and not c["empty"] and c["executionCount"] is None:
                problems.append(f"cell {c['index']}: never ran")
        return problems

    def console_errors(self) -> list[str]:
        """Errors the page logged to the browser console (and uncaught exceptions)."""
        return [f"{kind}: {text}" for kind, text in self.console if kind in ("error", "pageerror")]

    def widget_log_errors(self) -> list[str]:
        """Tracebacks in JupyterLab's log console: where errors raised in widget callbacks
        (a slider's ``observe`` handler) end up. One line per error: its last line."""
        entries = self.page.evaluate(_LOG_JS)
        errors = []
        for text in entries:
            if "Traceback" in text or re.search(r"^\w*(Error|Exception)\b", text, flags=re.M):
                last = [ln for ln in text.splitlines() if re.match(r"^\w*(Error|Exception)\b", ln)]
                errors.append("widget callback: " + (last[-1] if last else text.strip()[:200]))
        return errors

    def demos(self, timeout: float = 60.0) -> list[dict]:
        """The live demos on the page, once each has drawn its figure."""
        # Re-discover on every poll: JupyterLab may re-render an output area (new DOM nodes).
        # A blank figure after half the time is scrolled into view, as a student would; it
        # must then draw (a figure that never draws fails, with a screenshot).
        start = time.monotonic()
        scrolled = False
        while True:
            demos = self.page.evaluate(_DEMOS_JS)
            drawn = self.page.evaluate("(n) => [...Array(n).keys()].map(i => window.__btDrawn(i))",
                                       len(demos))
            if all(drawn):
                break
            if not scrolled and time.monotonic() - start > timeout / 2:
                scrolled = True
                for i, ok in enumerate(drawn):
                    if not ok:
                        self.page.locator(f'[data-bt-demo="{i}"]').scroll_into_view_if_needed()
            if time.monotonic() - start > timeout:
                i = drawn.index(False)
                info = self.page.evaluate("""(i) => {
                    const r = document.querySelector(`[data-bt-demo="${i}"]`);
                    return {ink: window.__btInk(r), canvases: window.__btCanvases(r).map(
                        c => [c.width, c.height, c.clientWidth, c.clientHeight])}; }""", i)
                shot = ROOT / "screenshots" / "browser" / f"{Path(self.name).stem}_not_drawn.png"
                shot.parent.mkdir(parents=True, exist_ok=True)
                self.page.screenshot(path=str(shot))
                recent = [f"{k}: {t[:200]}" for k, t in self.console[-8:]]
                raise TimeoutError(f"{self.name}: demo {i} (cell {demos[i]['cell']}) drew no figure "
                                   f"in {timeout:.0f} s: {info}; screenshot {shot}; "
                                   f"last console messages: {recent}")
            time.sleep(0.5)
        return demos

    def slider_state(self, demo: int, slider: int) -> dict:
        return self.page.evaluate(_SLIDER_JS, [demo, slider])

    def figure_png(self, demo: int) -> bytes:
        return self.page.locator(f'[data-bt-demo="{demo}"] .jupyter-matplotlib-canvas-div').first.screenshot()

    def move(self, demo: int, slider: int, key: str | None = None, timeout: float = 60.0,
             screenshot: Path | None = None) -> MoveResult:
        """Press an arrow key on a slider; measure key -> new pixels; check the readout."""
        before = self.slider_state(demo, slider)
        if key is None:
            key = "ArrowLeft" if before["raw"] >= before["max"] - 1e-9 else "ArrowRight"
        png_before = self.figure_png(demo)
        handle = self.page.locator(f'[data-bt-demo="{demo}"] [data-bt-slider="{slider}"]')
        handle.scroll_into_view_if_needed()
        handle.focus()
        self.page.evaluate(_ARM_JS, [demo, slider])
        self.page.keyboard.press(key)
        latency = None
        with contextlib.suppress(Exception):
            self.page.wait_for_function("() => window.__btProbe.done", timeout=timeout * 1000)
            probe = self.page.evaluate("() => window.__btProbe")
            if probe["t1"] is not None and probe["t0"] is not None:
                latency = probe["t1"] - probe["t0"]
        # the readout comes back from the kernel too: wait until it changed
        with contextlib.suppress(Exception):
            self.page.wait_for_function(
                """([d, s, old]) => window.__btReadout(d) !== old""",
                arg=[demo, slider, before["readout"]], timeout=timeout * 1000)
        after = self.slider_state(demo, slider)
        png_after = self.figure_png(demo)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(screenshot))
        return MoveResult(demo, str(slider), key, before, after, latency,
                          pixels_changed(png_before, png_after),
                          readout_shows_value(after["readout"], after, before["readout"]),
                          screenshot)


    def fit_problems(self) -> list[str]:
        """What does not fit the notebook column (see ``_FIT_JS``); every output area counts."""
        return self.page.evaluate(_FIT_JS)

    def aria(self, demo: int) -> list[dict]:
        return self.page.evaluate(_ARIA_JS, demo)

    def images(self) -> list[dict]:
        return self.page.evaluate(_IMAGES_JS)

    def contrast(self) -> list[dict]:
        return self.page.evaluate(_CONTRAST_JS)

    def dirty(self) -> bool:
        """JupyterLab marks the notebook as modified (unsaved changes)."""
        return self.page.evaluate("(path) => window.__btPanel(path).context.model.dirty", self.path)

    def set_theme(self, theme: str) -> None:
        """Switch JupyterLab's theme (``DARK_THEME`` / ``LIGHT_THEME``) and wait until applied."""
        light = "true" if theme == LIGHT_THEME else "false"
        self.page.evaluate("(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})",
                           theme)
        self.page.wait_for_function("(l) => document.body.dataset.jpThemeLight === l", arg=light,
                                    timeout=30_000)
        self.page.wait_for_timeout(500)

    def quick_there_and_back(self, demo: int, slider: int, timeout: float = 30.0) -> int:
        """Two key presses one way and two back, as fast as the keyboard goes; then how many
        pixels of the figure differ from before (0: no frame was lost on the way)."""
        before = self.slider_state(demo, slider)
        png_before = self.figure_png(demo)
        step = before["step"] if math.isfinite(before["step"]) and before["step"] > 0 else 0.0
        room_right = (before["max"] - before["raw"]) / step if step else 0.0
        room_left = (before["raw"] - before["min"]) / step if step else 0.0
        there, back = ("ArrowRight", "ArrowLeft") if room_right >= room_left else ("ArrowLeft", "ArrowRight")
        n = 2 if max(room_right, room_left) >= 2 - 1e-6 else 1
        handle = self.page.locator(f'[data-bt-demo="{demo}"] [data-bt-slider="{slider}"]')
        handle.focus()
        for key in (there,) * n + (back,) * n:
            self.page.keyboard.press(key)
        with contextlib.suppress(Exception):
            self.page.wait_for_function(
                "([d, s, raw]) => { const h = document.querySelector(`[data-bt-demo=\"${d}\"] "
                "[data-bt-slider=\"${s}\"]`); return Math.abs(Number(h.closest('.noUi-target')"
                ".noUiSlider.get(true)) - raw) < 1e-9; }",
                arg=[demo, slider, before["raw"]], timeout=timeout * 1000)
        # the frames come back from the kernel: wait until the picture settles
        last, deadline = None, time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(400)
            png = self.figure_png(demo)
            if png == last:
                break
            last = png
        return pixels_changed(png_before, last)

    def close(self) -> None:
        if self.page is not None:
            with contextlib.suppress(Exception):
                self.page.close()
            self.page = None
        with contextlib.suppress(Exception):
            self.server.shutdown_kernels()


# --------------------------------------------------------------------------------------------
# Checks on what the browser shows
# --------------------------------------------------------------------------------------------
def pixels_changed(png_a: bytes, png_b: bytes) -> int:
    """How many pixels differ between two screenshots (of the same element)."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png_a)).convert("RGB"), dtype=np.int16)
    b = np.asarray(Image.open(io.BytesIO(png_b)).convert("RGB"), dtype=np.int16)
    if a.shape != b.shape:
        return int(max(a.shape[0] * a.shape[1], b.shape[0] * b.shape[1]))
    return int((np.abs(a - b).max(axis=2) > 8).sum())


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?%?")


def _printed_numbers(text: str) -> list[tuple[float, float]]:
    """Every number printed in ``text`` with the rounding step its digits imply."""
    text = re.sub(r"[\u2212\u2012\u2013](?=\d)", "-", text)  # typographic minus signs
    found = []
    for token in _NUMBER.findall(text):
        pct = token.endswith("%")
        body = token.rstrip("%")
        mantissa, _, exp = body.lower().partition("e")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        value = float(body)
        step = 10.0 ** (-decimals + (int(exp) if exp else 0))
        if pct:
            value, step = value / 100, step / 100
        found.append((value, step))
    return found


def slider_value(state: dict) -> list[float]:
    """The slider's value, as a linear slider and as a log slider (noUi works in log10 units)."""
    return [state["raw"], 10.0 ** state["raw"]] if math.isfinite(state["raw"]) else []


def readout_shows_value(readout: str, state: dict, old_readout: str) -> bool:
    """The readout changed and prints the slider's value (to the precision it prints)."""
    if readout == old_readout:
        return False
    shown = _printed_numbers(state["shown"])
    candidates = slider_value(state)
    if shown:  # the slider's own display tells which of linear/log it is
        v_shown, step = shown[0]
        candidates = [v for v in candidates if abs(v - v_shown) <= step * 0.51 + 1e-12] or candidates
        # a log slider shows (and the demo uses) its value rounded: 1100 for 10**3.05
        for x, x_step in _printed_numbers(readout):
            if abs(x - v_shown) <= 0.5 * max(step, x_step) * (1 + 1e-6) + 1e-12 * max(1.0, abs(v_shown)):
                return True
    for v in candidates:
        for x, step in _printed_numbers(readout):
            if abs(x - v) <= step * 0.5 * (1 + 1e-6) + 1e-12 * max(1.0, abs(v)):
                return True
    return False
