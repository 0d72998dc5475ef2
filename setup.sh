#!/usr/bin/env bash
# Prepare a fresh Linux machine: the system packages the grader needs, then a virtualenv with
# the pinned requirements. `./setup.sh tests` also installs Chromium and its driver for the browser tests.
set -euo pipefail
cd "$(dirname "$0")"
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
ldconfig -p 2>/dev/null | grep 'libseccomp\.so\.2 ' >/dev/null || need+=(libseccomp2)  # pyseccomp's library; not grep -q: ldconfig would die of SIGPIPE under pipefail
if [[ "${1:-}" == tests ]]; then  # the report's and formgrader's browser tests
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)  # Selenium drives the system's Chromium
fi
if ((${#need[@]})); then
  sudo=""; [[ "$(id -u)" == 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/pip install -q -r requirements.txt
# Bytecode of the grader, compiled once here: a cold process (grade-notebook) and the sandbox,
# whose mount of the grader is read-only, would otherwise compile it at every start.
.venv/bin/python -m compileall -q autograder assignments >/dev/null
# matplotlib's font list as the sandbox sees it: each sandbox template would otherwise scan the fonts again.
.venv/bin/python -m autograder.sandbox.font_cache
# The course root on the venv's path, and the staff-page server extension enabled for its Jupyter,
# so a TA's plain `jupyter lab` in the course root serves formgrader under a Content-Security-Policy.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PWD" > "$site/autograder-course.pth"
mkdir -p .venv/etc/jupyter/jupyter_server_config.d
echo '{"ServerApp": {"jpserver_extensions": {"autograder.staff_pages.server_extension": true}}}' \
  > .venv/etc/jupyter/jupyter_server_config.d/autograder.json
# JupyterHub's proxy, for tests/test_hub_service.py (a real hub on 127.0.0.1); node is on the machine
if [[ "${1:-}" == tests ]] && ! command -v configurable-http-proxy >/dev/null && command -v npm >/dev/null; then
  sudo=""; [[ "$(id -u)" == 0 ]] || sudo=sudo
  $sudo npm install -g --no-fund --no-audit configurable-http-proxy@5.3.0
fi
