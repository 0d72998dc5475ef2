"""Stand-ins for what the Gradescope bundle's setup.sh calls, so it can run here as on an Ubuntu image.

``Machine(folder, python3="3.10")`` is a PATH of its own: the few real tools the script needs
(bash, grep, ...) and fakes of ``apt-get``, ``ldconfig``, ``python3`` (the version given) and
whatever ``apt-get install`` adds (``python3.11``, ``bwrap``, ``setpriv``, the ``-venv``
packages). Every fake writes its command line to ``log``; a fake ``python -m venv DIR`` makes
``DIR/bin/python``, another fake of the same version, so pip and the grader run by the venv's
python show up in the log too. Nothing real is installed and nothing leaves ``folder``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REAL_TOOLS = ("bash", "dirname", "basename", "chmod", "grep", "mkdir", "touch", "sed", "cat")

FAKE_PYTHON = r"""#!/bin/bash
# A fake python @VERSION@ (tests/setup_sh_shims.py): answers setup.sh's questions, records the rest.
echo "$0 $*" >> "$SHIM_LOG"
version=@VERSION@
minor=${version#3.}
name=$(basename "$0")
case "$1" in
  -V) echo "Python $version.0" ;;
  -c) case "$2" in
        *version_info*) exit $((minor < 11)) ;;
        *ensurepip*) [[ -e "$SHIM_ROOT/installed/$name-venv" ]] ;;
        *) exit 3 ;;
      esac ;;
  -m) case "$2" in
        venv) [[ -e "$SHIM_ROOT/installed/$name-venv" ]] || { echo "ensurepip is not available" >&2; exit 1; }
              dest=${!#}
              mkdir -p "$dest/bin"
              sed "s/^version=.*/version=$version/" "$0" > "$dest/bin/python" && chmod +x "$dest/bin/python" ;;
        pip|compileall|autograder.pipeline.gradescope_run) ;;
        *) exit 3 ;;
      esac ;;
  *) exit 3 ;;
esac
"""

FAKE_APT_GET = r"""#!/bin/bash
# A fake apt-get (tests/setup_sh_shims.py): records, and "installs" stand-ins into the shim folder.
echo "apt-get $*" >> "$SHIM_LOG"
[[ "$1" == install ]] || exit 0
tool() { printf '#!/bin/bash\necho "%s $*" >> "$SHIM_LOG"\n' "$1" > "$SHIM_ROOT/bin/$1"; chmod +x "$SHIM_ROOT/bin/$1"; }
python() { sed "s/@VERSION@/$2/g" "$SHIM_ROOT/python.in" > "$SHIM_ROOT/bin/$1"; chmod +x "$SHIM_ROOT/bin/$1"; }
for pkg in "${@:2}"; do
  [[ "$pkg" == -* ]] && continue
  [[ " ${SHIM_APT_MISSING:-} " == *" $pkg "* ]] && { echo "E: Unable to locate package $pkg" >&2; exit 100; }
  case "$pkg" in
    bubblewrap) tool bwrap ;;
    util-linux) tool setpriv ;;
    libseccomp2|python3*-venv) touch "$SHIM_ROOT/installed/$pkg" ;;
    python3) [[ -x "$SHIM_ROOT/bin/python3" ]] || python python3 "${SHIM_NEW_PYTHON3:-3.12}" ;;
    python3.*) python "$pkg" "${pkg#python}" ;;
    *) echo "E: Unable to locate package $pkg" >&2; exit 100 ;;
  esac
done
"""

FAKE_LDCONFIG = r"""#!/bin/bash
[[ -e "$SHIM_ROOT/installed/libseccomp2" ]] && echo "	libseccomp.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/libseccomp.so.2"
exit 0
"""


class Machine:
    """A PATH on which setup.sh finds only stand-ins (and a few real tools)."""

    def __init__(self, folder: Path, python3: str | None = "3.10", *, installed: tuple[str, ...] = ("python3-venv",),
                 apt_get: bool = True):
        self.folder, self.log = folder, folder / "log"
        for sub in ("bin", "installed"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.log.touch()
        for tool in REAL_TOOLS:
            os.symlink(shutil.which(tool), folder / "bin" / tool)
        (folder / "python.in").write_text(FAKE_PYTHON)
        self._script("ldconfig", FAKE_LDCONFIG)
        if apt_get:
            self._script("apt-get", FAKE_APT_GET)
        if python3 is not None:
            self._script("python3", FAKE_PYTHON.replace("@VERSION@", python3))
        for package in installed:
            if package == "bubblewrap":
                self._script("bwrap", "#!/bin/bash\n")
            elif package == "util-linux":
                self._script("setpriv", "#!/bin/bash\n")
            else:
                (folder / "installed" / package).touch()

    def _script(self, name: str, text: str) -> None:
        (self.folder / "bin" / name).write_text(text)
        (self.folder / "bin" / name).chmod(0o755)

    def run(self, script: Path, **env: str) -> subprocess.CompletedProcess:
        """Run ``script`` on this machine's PATH alone; ``env`` adds variables (AUTOGRADER_ROOT, ...)."""
        self.log.write_text("")
        return subprocess.run([str(script)], capture_output=True, text=True, timeout=60, cwd=script.parent,
                              env={"PATH": str(self.folder / "bin"), "HOME": str(self.folder),
                                   "SHIM_ROOT": str(self.folder), "SHIM_LOG": str(self.log), **env})

    def calls(self) -> list[str]:
        """The commands the fakes ran, in order, with the shim folder written as ``$SHIMS``."""
        return [line.replace(str(self.folder / "bin") + "/", "") for line in self.log.read_text().splitlines()]
