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
