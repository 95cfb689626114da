"""The sandbox wrapper (course_tools/grading/jail.py) attacked from inside, in both namespace modes.

Root mode runs the wrapper as root (the command gets a private uid); userns mode runs it as the
unprivileged user ``nobody`` (``setpriv``), so the command's only privileges would be those of
a user namespace. Each test says what it measures; the CPU-sharing test prints its numbers
(``pytest -s``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from course_tools.grading import jail, procfs, sandbox
from tests.conftest import ROOT

WRAPPER = Path(jail.__file__).resolve()
NOBODY = 65534
SETPRIV = shutil.which("setpriv")
LINUX_ROOT = sys.platform.startswith("linux") and os.geteuid() == 0


def _as_nobody(argv: list[str]) -> list[str]:
    return [SETPRIV, "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups", *argv]


def _nobody_python() -> tuple[str | None, str]:
    """An interpreter that ``nobody`` can run, with the wrapper readable: (path, '') or (None, why)."""
    if not LINUX_ROOT or SETPRIV is None:
        return None, "needs Linux, root and setpriv to run the wrapper as nobody"
    check = ("import os, sys; open(os.path.realpath(sys.executable), 'rb').close(); "
             f"open({str(WRAPPER)!r}, 'rb').close()")
    why = []
    for py in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if not os.path.exists(py):
            continue
        out = subprocess.run(_as_nobody([py, "-I", "-S", "-c", check]), capture_output=True,
                             text=True, cwd="/", timeout=60)
        if out.returncode == 0:
            return py, ""
        why.append(f"{py}: {out.stderr.strip().splitlines()[-1:]}")
    return None, "no interpreter (or wrapper) readable by nobody: " + "; ".join(why)


NOBODY_PY, NOBODY_WHY = _nobody_python()
MODES = [
    pytest.param("root", marks=pytest.mark.skipif(
        not LINUX_ROOT or sandbox.probe().mode != "root",
        reason=f"root mode unavailable: {sandbox.probe().reason}")),
    pytest.param("userns", marks=pytest.mark.skipif(NOBODY_PY is None, reason=NOBODY_WHY)),
]


class Box:
    """A temporary tree for one sandboxed run, readable by everyone (0o755), under /tmp:

    work/ (the workdir), root/ (the new root), course/ (exposed read-only) holding pkg.py,
    answers.py (hidden) and instructor/ (hidden), beside.txt (next to the course, never exposed).
    """

    def __init__(self, mode: str):
        self.mode = mode
        self.base = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
        os.chmod(self.base, 0o755)
        self.work, self.root, self.course = self.base / "work", self.base / "root", self.base / "course"
        for d in (self.work, self.root, self.course / "instructor"):
            d.mkdir(parents=True)
        (self.course / "pkg.py").write_text("x = 1\n")
        (self.course / "answers.py").write_text("ANSWER = 42\n")
        (self.course / "instructor" / "key.txt").write_text("the instructor's key\n")
        (self.base / "beside.txt").write_text("next to the course\n")
        self.uid = sandbox.private_uid() if mode == "root" else NOBODY
        os.chown(self.work, self.uid, self.uid)
        self.python = sys.executable if mode == "root" else NOBODY_PY

    def exposed(self) -> list[str]:
        if self.mode == "root":
            return sandbox.exposed_paths()
        out = subprocess.run(_as_nobody([self.python, "-I", "-c",
                                         "import json, os, sys; print(json.dumps([sys.prefix, "
                                         "sys.base_prefix, os.path.dirname(os.path.realpath("
                                         "sys.executable)), *sys.path]))"]),
                             capture_output=True, text=True, cwd="/", timeout=60, check=True)
        return sorted({os.path.realpath(p) for p in json.loads(out.stdout)
                       if p and os.path.isdir(p) and len(Path(p).parts) > 2})

    def run(self, code: str, *args: str, hide: list[str] | None = None, timeout: float = 120,
            cgroup_procs: list[str] | None = None) -> subprocess.CompletedProcess:
        hide = [str(self.course / "instructor"), str(self.course / "answers.py"), *(hide or [])]
        spec = sandbox.Spec(str(self.work), str(self.root), self.mode,
                            self.uid if self.mode == "root" else None, hide=hide,
                            expose=[*self.exposed(), str(self.course)],
                            cgroup_procs=cgroup_procs or [])
        spec_path = self.base / "spec.json"
        spec_path.write_text(json.dumps(asdict(spec)))
        os.chmod(spec_path, 0o644)
        argv = [self.python, str(WRAPPER), str(spec_path), "--", self.python, "-I", "-S", "-c",
                code, *args]
        if self.mode == "userns":
            argv = _as_nobody(argv)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.work)

    def close(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def box(request):
    b = Box(request.param)
    yield b
    b.close()


ATTACKS = r'''
import ctypes, errno, json, os, socket, sys
a = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
out = {}

def err(ret):
    return "ok" if ret == 0 else errno.errorcode[ctypes.get_errno()]

def readable(p):
    try:
        with open(p, "rb") as f:
            return f.read(64).decode(errors="replace") or "(empty)"
    except OSError as e:
        return None

def can_write(p):
    try:
        with open(p, "ab") as f:
            f.write(b"x")
        return True
    except OSError:
        return False

def leaks():
    found = {p: readable(p) for p in a["secret"] if readable(p) is not None}
    found.update({p: os.listdir(p) for p in a["secret_dirs"] if os.path.isdir(p) and os.listdir(p)})
    return found

out["uid"] = [os.getuid(), os.geteuid(), os.getgid()]
out["caps"] = {k: v.strip() for k, _, v in (l.partition(":") for l in open("/proc/self/status"))
               if k.startswith("Cap") or k in ("NoNewPrivs", "Seccomp")}
out["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out["leaks"] = leaks()
out["written"] = [p for p in a["readonly"] if can_write(p)]
out["workdir_ok"] = can_write(os.path.join(a["workdir"], "mine.txt"))
for p in a["private"]:  # private tmpfs (or refused): must not reach the host
    can_write(p)
out["umount_mask"] = err(libc.umount2(a["mask"].encode(), 0))
out["umount_mask_detach"] = err(libc.umount2(a["mask"].encode(), 2))
out["mount_tmpfs"] = err(libc.mount(b"tmpfs", a["mask"].encode(), b"tmpfs", 0, None))
out["remount_rw"] = err(libc.mount(None, a["exposed"].encode(), None, 32 | 4096, None))
out["chroot"] = err(libc.chroot(b"/tmp"))
try:
    os.listdir("/proc/1/root")
    out["pid1_root"] = "listed"
except OSError as e:
    out["pid1_root"] = errno.errorcode[e.errno]

# a nested user namespace gives capabilities again, over a copy of the sandbox's mounts
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    n = {}
    try:
        uid, gid = os.getuid(), os.getgid()
        n["unshare"] = err(libc.unshare(0x10000000 | 0x00020000))
        if n["unshare"] == "ok":
            open("/proc/self/setgroups", "w").write("deny")
            open("/proc/self/uid_map", "w").write(f"0 {uid} 1")
            open("/proc/self/gid_map", "w").write(f"0 {gid} 1")
            n["umount_mask"] = err(libc.umount2(a["mask"].encode(), 2))
            n["umount_answers"] = err(libc.umount2(a["answers"].encode(), 2))
            n["remount_rw"] = err(libc.mount(None, a["exposed"].encode(), None, 32 | 4096, None))
            n["umount_root"] = err(libc.umount2(b"/", 2))
            os.makedirs("/tmp/escape", exist_ok=True)
            n["chroot"] = err(libc.chroot(b"/tmp/escape"))
            for _ in range(64):
                os.chdir("..")
            libc.chroot(b".")
            n["leaks"] = leaks()
            n["written"] = [p for p in a["readonly"] if can_write(p)]
            n["root"] = sorted(os.listdir("/"))
    except Exception as e:
        n["error"] = repr(e)
    os.write(w, json.dumps(n).encode())
    os._exit(0)
os.close(w)
out["nested"] = json.loads(os.read(r, 1 << 20))
os.waitpid(pid, 0)

def connect(host, port):
    s = socket.socket()
    s.settimeout(3)
    try:
        return errno.errorcode.get(s.connect_ex((host, port)), "ok")
    finally:
        s.close()

out["outside"] = connect("192.0.2.1", 80)
out["host_listener"] = connect("127.0.0.1", a["port"])
lo = socket.socket()
lo.bind(("127.0.0.1", 0))
lo.listen()
out["own_loopback"] = connect(*lo.getsockname())
out["interfaces"] = [name for _i, name in socket.if_nameindex()]
print(json.dumps(out))
'''


@pytest.mark.parametrize("box", MODES, indirect=True)
def test_the_command_has_no_privileges_and_sees_only_what_it_may(box):
    marker = f"sandbox-marker-{os.getpid()}-{time.monotonic_ns()}"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    secret = [str(box.course / "instructor" / "key.txt"), str(box.course / "answers.py"),
              str(box.base / "beside.txt"), str(WRAPPER), str(ROOT / "course_tools" / "__init__.py"),
              "/root/.bashrc", "/run/dbus/system_bus_socket"]
    private = ["/tmp/" + marker, str(box.base / marker), "/dev/shm/" + marker, "/var/tmp/" + marker]
    args = {"secret": secret, "secret_dirs": [str(box.course / "instructor"), str(box.root), "/root/.cache",
                                              "/home", "/run", "/mnt", str(ROOT / "notebooks")],
            "readonly": [str(box.course / "pkg.py"), str(box.course / "new.py"), "/etc/x",
                         "/usr/x", "/x", "/dev/x", "/var/x", "/proc/x", "/sys/x"],
            "private": private,
            "workdir": str(box.work), "mask": str(box.course / "instructor"),
            "answers": str(box.course / "answers.py"), "exposed": str(box.course),
            "port": listener.getsockname()[1]}
    try:
        out = box.run(ATTACKS, json.dumps(args))
        try:
            listener.accept()
            reached_host = True
        except OSError:
            reached_host = False
    finally:
        listener.close()
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    # an ordinary user without any capability, unable to gain one
    assert seen["uid"][0] == seen["uid"][1] == box.uid != 0
    caps = seen["caps"]
    assert {k: caps[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")} == dict.fromkeys(
        ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"), "0000000000000000"), caps
    assert caps["NoNewPrivs"] == "1"
    # its own PID namespace: PID 1 (the sandbox's init), itself, its nested child at most
    assert len(seen["processes"]) <= 4 and 1 in seen["processes"], seen["processes"]
    assert seen["pid1_root"] in ("EACCES", "EPERM")
    # hidden: the instructor folder, a hidden file, a file next to the course, the course itself
    assert seen["leaks"] == {}
    # read-only: the exposed course, system folders, the skeleton; the workdir is writable
    assert seen["written"] == [] and seen["workdir_ok"]
    assert (box.work / "mine.txt").exists() and not (box.course / "new.py").exists()
    assert not [p for p in private if os.path.exists(p)]  # its /tmp, /dev/shm... were private
    # no mount, unmount, remount or chroot
    for what in ("umount_mask", "umount_mask_detach", "mount_tmpfs", "remount_rw", "chroot"):
        assert seen[what] in ("EPERM", "EACCES"), (what, seen[what])
    # a nested user namespace (allowed) may mount its own things, but cannot undo the sandbox's
    nested = seen["nested"]
    assert "error" not in nested, nested
    if nested["unshare"] == "ok":
        assert nested["umount_mask"] == nested["umount_answers"] == "EINVAL"  # locked mounts
        assert nested["remount_rw"] == "EPERM" and nested["umount_root"] == "EINVAL"
        assert nested["leaks"] == {} and nested["written"] == []
    # network: loopback of its own, nothing else
    assert seen["outside"] in ("ENETUNREACH", "EHOSTUNREACH", "ETIMEDOUT"), seen["outside"]
    assert seen["host_listener"] == "ECONNREFUSED" and not reached_host
    assert seen["own_loopback"] == "ok"
    assert seen["interfaces"] == ["lo"]


@pytest.mark.skipif(not sys.platform.startswith("linux") or sandbox.probe().mode == "none",
                    reason=f"no namespaces here: {sandbox.probe().reason}")
def test_sandbox_hides_the_course_blocks_writes_and_the_network(tmp_path):
    work, newroot = tmp_path / "work", tmp_path / "root"
    work.mkdir()
    newroot.mkdir()
    uid = sandbox.private_uid() if sandbox.probe().mode == "root" else None
    if uid is not None:
        os.chown(work, uid, uid)
    spec = sandbox.Spec(str(work), str(newroot), sandbox.probe().mode, uid,
                        hide=[str(ROOT / "notebooks"), str(ROOT / "course_tools")],
                        expose=sandbox.exposed_paths())
    code = (
        "import os, socket\n"
        f"nb = {str(ROOT / 'notebooks')!r}\n"
        "print(sorted(os.listdir(nb)) if os.path.exists(nb) else [],"
        f" os.path.exists({str(tmp_path / 'root')!r}))\n"
        "for p in [" + repr(str(ROOT / "course_lib" / "x.py")) + ", '/etc/x']:\n"
        "    try:\n        open(p, 'w')\n        print('wrote', p)\n    except OSError:\n        pass\n"
        "open('ok.txt', 'w').write('fine')\n"
        "s = socket.socket(); s.settimeout(2)\n"
        "print('connect', s.connect_ex(('127.0.0.1', 9)) != 0)\n"
        "try:\n    import course_tools.references\n    print('imported the instructor package')\n"
        "except ImportError:\n    pass\n"
        "print('uid', os.getuid())\n")
    out = subprocess.run(sandbox.command(spec, tmp_path / "spec.json", [sys.executable, "-c", code]),
                         capture_output=True, text=True, timeout=120, cwd=work)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "[] False" and "wrote" not in out.stdout and "instructor" not in out.stdout
    assert (work / "ok.txt").read_text() == "fine" and not (ROOT / "course_lib" / "x.py").exists()
    if uid is not None:
        assert lines[-1] == f"uid {uid}"


# -- what probe() says --------------------------------------------------------------------------
def test_isolation_is_claimed_only_when_the_self_test_confirmed_it():
    full = sandbox.Isolation("root", "", verified=tuple(sandbox.CHECKS))
    assert full.isolated and "no capabilities" in full.describe() and "PARTIAL" not in full.describe()
    with_cg = sandbox.Isolation("root", "", tuple(sandbox.CHECKS), cgroup="v1")
    assert "cgroup v1" in with_cg.describe(cgroup=True) and "cgroup" not in with_cg.describe()
    partial = sandbox.Isolation("userns", "not root",
                                verified=("user", "hidden", "read_only", "workdir", "network"),
                                failed=("no_capabilities: CapEff=1ff", "no_remount: did: ['umount']"))
    text = partial.describe()
    assert not partial.isolated and "PARTIAL" in text and "no_capabilities" in text
    assert "no capabilities," not in text and "NO process-count limit" in text
    assert partial.filesystem and partial.network
    assert not sandbox.Isolation("root", "", verified=("user",), failed=("hidden: x",)).filesystem
    unverified = sandbox.Isolation("userns", "not root")
    assert not unverified.isolated and "not self-tested" in unverified.describe()
    none = sandbox.Isolation("none", "macOS")
    assert not none.isolated and not none.network and "NOT isolated" in none.describe()


@pytest.mark.skipif(not LINUX_ROOT, reason="needs Linux and root")
def test_probe_as_root_verifies_every_check():
    iso = sandbox.probe()
    assert iso.mode == "root", iso
    assert iso.isolated and not iso.failed, iso
    assert iso.describe().startswith("sandbox: private user, no capabilities")


@pytest.mark.skipif(not LINUX_ROOT, reason="needs Linux and root")
def test_the_self_test_reports_a_weakened_sandbox(tmp_path, monkeypatch):
    """A wrapper that forgets to change user and keeps the capabilities: the probe's self-test
    must say exactly that, and the description must not claim isolation."""
    source = WRAPPER.read_text()
    weak = tmp_path / "weak_sandbox.py"
    for line in ("os.setuid(spec.uid)", "_lock_down(strict=isolated)", "_drop_all_capabilities()  #"):
        assert line in source
        source = source.replace(line, "pass  # " + line)
    weak.write_text(source)
    real_command = jail.command

    def weak_command(spec, spec_path, cmd):
        argv = real_command(spec, spec_path, cmd)
        return [argv[0], str(weak), *argv[2:]]

    monkeypatch.setattr(jail, "command", weak_command)
    verified, failed, _ = jail._self_test("root")
    assert {f.split(":")[0] for f in failed} == {"user", "no_capabilities", "no_remount"}, failed
    iso = sandbox.Isolation("root", "", tuple(verified), tuple(failed))
    assert not iso.isolated and "PARTIAL" in iso.describe() and "no_capabilities" in iso.describe()
    assert iso.filesystem and iso.network  # what still held


@pytest.mark.skipif(NOBODY_PY is None, reason=NOBODY_WHY)
def test_probe_as_nobody_finds_a_fully_isolated_userns_sandbox():
    out = subprocess.run(_as_nobody([NOBODY_PY, str(WRAPPER), "--probe"]), capture_output=True,
                         text=True, timeout=120, cwd="/")
    iso = sandbox.Isolation(**{k: tuple(v) if isinstance(v, list) else v
                               for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()})
    assert iso.mode == "userns" and iso.isolated, iso
    assert not iso.fork_limit and "NO process-count limit" in iso.describe()


@pytest.mark.skipif(not LINUX_ROOT, reason="needs Linux and root")
def test_userns_mode_is_refused_as_root(tmp_path):
    spec = sandbox.Spec(str(tmp_path), str(tmp_path / "root"), "userns")
    out = subprocess.run(sandbox.command(spec, tmp_path / "spec.json", ["true"]),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == sandbox.SETUP_FAILED and "refused as root" in out.stderr


# -- control groups: fair CPU sharing, fork bombs, memory ------------------------------------------
needs_cgroups = pytest.mark.skipif(not LINUX_ROOT or not sandbox.CGroup.support()[0],
                                   reason=f"no control groups: {sandbox.CGroup.support()[1]}")
BUSY = r'''
import os, sys, time
seconds, n_procs = float(sys.argv[1]), int(sys.argv[2])
for _ in range(n_procs - 1):
    if os.fork() == 0:
        break
end, n = time.monotonic() + seconds, 0
while time.monotonic() < end:
    for _ in range(10000):
        pass
    n += 1
t = os.times()
print(n, t.user + t.system, flush=True)
'''


def _busy(seconds: float, procs: int, cgroup: sandbox.CGroup | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-I", "-S", "-c", BUSY, str(seconds), str(procs)],
                            stdout=subprocess.PIPE, text=True,
                            preexec_fn=cgroup.preexec_fn() if cgroup else None)


def _honest(seconds: float, cgroup: sandbox.CGroup | None = None) -> tuple[float, float]:
    """Iterations per second and CPU share of one busy loop (optionally in ``cgroup``)."""
    n, cpu = _busy(seconds, 1, cgroup).communicate()[0].split()
    return int(n) / seconds, float(cpu) / seconds


@needs_cgroups
def test_a_hog_in_its_own_cgroup_does_not_starve_an_honest_run():
    """An honest single busy loop next to a hog of 4 busy processes per core, each run in a
    cgroup of 1 core (``fair_cpus(2)`` on 2 cores), compared with the loop alone (measured
    before and after, as other work on the machine varies) and next to the hog without cgroups.
    """
    seconds, cores, cpus = 3.0, os.cpu_count() or 1, sandbox.fair_cpus(2)
    before, before_share = _honest(seconds)
    hog = _busy(seconds + 1, 4 * cores)
    time.sleep(0.3)
    shared, shared_share = _honest(seconds)
    hog.communicate()
    with sandbox.CGroup.create(cpus=cpus) as honest_cg, \
            sandbox.CGroup.create(cpus=cpus, pids=64) as hog_cg:
        start = time.monotonic()
        hog = _busy(seconds + 1, 4 * cores, hog_cg)
        time.sleep(0.3)
        hog_before = hog_cg.cpu_seconds()
        fair, fair_share = _honest(seconds, honest_cg)
        hog_during = hog_cg.cpu_seconds() - hog_before
        hog.communicate()
        wall = time.monotonic() - start
        hog_cpu, honest_cpu = hog_cg.cpu_seconds(), honest_cg.cpu_seconds()
    after, after_share = _honest(seconds)
    alone, alone_share = (before + after) / 2, (before_share + after_share) / 2
    report = (f"honest loop: alone {alone:,.0f} it/s ({alone_share:.0%} of a core; before "
              f"{before:,.0f}, after {after:,.0f}); next to {4 * cores} hog processes without "
              f"cgroups {shared:,.0f} it/s ({shared_share:.0%} of a core, {shared / alone:.0%} of "
              f"alone); with cgroups of {cpus:g} core each {fair:,.0f} it/s ({fair_share:.0%} of "
              f"a core, {fair / alone:.0%} of alone); meanwhile the hog's cgroup used "
              f"{hog_during:.2f} CPU s to the honest one's {honest_cpu:.2f}; the hog's cgroup "
              f"used {hog_cpu:.2f} CPU s in {wall:.2f} s in all (quota {cpus:g} core)")
    print(report)
    assert fair >= 0.5 * alone, report  # generous: other work on the machine varies
    assert fair >= 2 * shared, report  # without cgroups: about 1/9 of the two cores
    assert honest_cpu >= 0.6 * hog_during, report  # one group, one share: about even
    assert hog_cpu <= cpus * wall * 1.15, report  # the quota holds


@needs_cgroups
def test_pids_max_stops_a_fork_bomb_and_remove_kills_the_rest():
    bomb = ("import os, time\nn = 0\nwhile True:\n    try:\n        pid = os.fork()\n"
            "    except OSError as e:\n        print(n, e.errno, flush=True)\n        break\n"
            "    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n    n += 1\n"
            "time.sleep(60)\n")
    cg = sandbox.CGroup.create(pids=32)
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", bomb], stdout=subprocess.PIPE,
                                text=True, preexec_fn=cg.preexec_fn())
        forked, code = map(int, proc.stdout.readline().split())
        assert 20 <= forked < 32 and code == 11  # EAGAIN: the group's 32 processes are all used
        assert len(cg.pids()) == forked + 1
    finally:
        cg.remove()
    proc.wait(timeout=10)
    assert cg.pids() == [] and not any(os.path.exists(d) for d in cg.dirs.values())


@needs_cgroups
def test_the_memory_limit_holds_for_the_tree_and_cpu_time_is_counted():
    hungry = "import os\nos.fork()\nb = b'x' * (96 << 20)\nimport time; time.sleep(1)\n"
    with sandbox.CGroup.create(memory_mb=128) as cg:
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", hungry],
                                preexec_fn=cg.preexec_fn())
        proc.wait(timeout=60)
        assert cg.oom_kills() >= 1  # two processes of 96 MB cannot both fit in 128 MB
        assert cg.memory_peak_mb() <= 129
    with sandbox.CGroup.create() as cg:
        lines = _busy(1.0, 2, cg).communicate()[0].splitlines()
        reported = sum(float(line.split()[1]) for line in lines)  # what each process says it used
        assert len(lines) == 2 and abs(cg.cpu_seconds() - reported) < 0.3, (cg.cpu_seconds(), lines)


@needs_cgroups
@pytest.mark.parametrize("box", [m for m in MODES if m.values[0] == "root"], indirect=True)
def test_the_wrapper_joins_its_cgroup_before_anything_runs(box):
    with sandbox.CGroup.create(cpus=1, pids=64) as cg:
        out = box.run("print(open('/proc/self/cgroup').read())", cgroup_procs=cg.procs_files)
        assert out.returncode == 0, out.stderr
        name = os.path.basename(cg.dirs["pids"] if "pids" in cg.dirs else cg.dirs[""])
        assert name in out.stdout and cg.cpu_seconds() > 0
    bad = box.run("pass", cgroup_procs=["/nonexistent/cgroup.procs"])
    assert bad.returncode == sandbox.SETUP_FAILED and "control group" in bad.stderr


# -- the CPU-time watch (no cgroups) ------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_tree_cpu_watch_kills_a_tree_over_its_budget():
    proc = _busy(30, 3)
    start = time.monotonic()
    with sandbox.TreeCpuWatch(proc.pid, budget_seconds=1.5, interval=0.1) as watch:
        proc.wait(timeout=30)
    elapsed = time.monotonic() - start
    assert watch.exceeded and proc.returncode == -9
    assert 1.5 <= watch.cpu_seconds <= 3.0 and elapsed < 10
    time.sleep(0.2)
    assert not [pid for pid, st in watch._seen if procfs.start_time(pid) == st
                and (procfs.proc_stat(pid) or ["Z"])[0] != "Z"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_tree_cpu_watch_follows_a_process_that_left_the_tree():
    escape = ("import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              "        print(os.getpid(), flush=True)\n        end = time.monotonic() + 30\n"
              "        while time.monotonic() < end:\n            pass\n        os._exit(0)\n"
              "    time.sleep(0.5)\n    os._exit(0)\nos.wait()\ntime.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", escape], stdout=subprocess.PIPE,
                            text=True)
    with sandbox.TreeCpuWatch(proc.pid, budget_seconds=1.0, interval=0.1) as watch:
        runaway = int(proc.stdout.readline())  # re-parented (to init) after 0.5 s, still busy
        proc.wait(timeout=30)
    assert watch.exceeded and proc.returncode == -9
    time.sleep(0.2)
    assert (procfs.proc_stat(runaway) or ["Z"])[0] == "Z", "the re-parented process survived"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_tree_cpu_watch_counts_children_that_exited():
    code = ("import subprocess, sys\nfor _ in range(3):\n    subprocess.run([sys.executable, '-c', "
            "'import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.5: pass'])\n")
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", code])
    with sandbox.TreeCpuWatch(proc.pid, budget_seconds=100, interval=0.1) as watch:
        proc.wait(timeout=60)
        watch.poll()
    assert not watch.exceeded and 1.4 <= watch.cpu_seconds <= 2.5, watch.cpu_seconds


# -- leftovers of a killed grader -------------------------------------------------------------
def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


@pytest.mark.skipif(not LINUX_ROOT, reason="mounts a tmpfs: needs Linux and root")
def test_cleanup_stale_unmounts_and_removes_only_dead_graders_folders(tmp_path):
    tmp_root = tmp_path / "tmproot"
    tmp_root.mkdir()
    pidns = procfs.pid_namespace()
    dead, live, unclaimed, foreign, other = (tmp_root / n for n in (
        "grade-dead", "grade-live", "grade-unclaimed", "grade-foreign", "judge-dead"))
    for d in (dead, live, unclaimed, foreign, other):
        d.mkdir()
    (dead / sandbox.OWNER_FILE).write_text(f"{_dead_pid()} 1 {pidns}\n")
    (other / sandbox.OWNER_FILE).write_text(f"{_dead_pid()} 1 {pidns}\n")
    (foreign / sandbox.OWNER_FILE).write_text(f"{_dead_pid()} 1 999\n")  # another PID namespace
    sandbox.claim_tempdir(live)
    pid, start, ns = (live / sandbox.OWNER_FILE).read_text().split()
    assert int(pid) == os.getpid() and ns == pidns and start == procfs.start_time(os.getpid())
    (dead / "work").mkdir()
    assert sandbox.mount_workdir(dead / "work", 8, 12345)
    try:
        (dead / "work" / "left.txt").write_text("from a killed run")
        assert sandbox.cleanup_stale(tmp_root, cgroups=False) == [str(dead)]
        mounted = [mp for _r, mp, _fs, _o in jail.mounts() if mp.startswith(str(tmp_root))]
        assert mounted == [] and not dead.exists()
        assert all(d.exists() for d in (live, unclaimed, foreign, other))
        assert sandbox.cleanup_stale(tmp_root, cgroups=False) == []
    finally:
        if dead.exists():
            sandbox.unmount(dead / "work")


@needs_cgroups
def test_stale_cgroups_of_dead_graders_are_removed_with_their_processes():
    name = f"{sandbox.CGROUP_PREFIX}{procfs.pid_namespace()}-{_dead_pid()}-test"
    cg = sandbox.CGroup.create(pids=8, name=name)
    sleeper = subprocess.Popen(["sleep", "60"], preexec_fn=cg.preexec_fn())
    try:
        live = sandbox.CGroup.create(pids=8)  # this process's: left alone
        removed = sandbox.CGroup.remove_stale()
        assert set(cg.dirs.values()) <= set(removed) and sleeper.wait(timeout=10) == -9
        assert all(os.path.isdir(d) for d in live.dirs.values())
        live.remove()
    finally:
        cg.remove()
        sleeper.kill()
