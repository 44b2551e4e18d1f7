#!/bin/sh
# Install a Debian package some tests need, when its program is missing:
#   sh tests/support/install_debian.sh PACKAGE PROGRAM "WHAT NEEDS IT"
# `make test` runs it for
#   nagios4-core /usr/sbin/nagios4   the tests that run a real Nagios 4 (tests/support/nagios_engine.py):
#                                    the lightest package with the engine (it pulls nagios4-common,
#                                    monitoring-plugins-basic and a mailer, no web server or CGI)
#   prometheus   /usr/bin/promtool   the test that has `promtool check metrics` read a node's /metrics
#   chromium     /usr/bin/chromium   the console's browser tests (Playwright drives it; it downloads
#                                    no browser of its own)
# A package's init script is never started: where no policy-rc.d forbids it already, a
# temporary one does during the install.
#
# Installs only when PROGRAM is missing, apt-get exists and we are root or have
# password-less sudo. Quiet; prints one line; always exits 0, so a machine where it
# cannot install simply skips those tests (with CI=true they fail instead).

PACKAGE=$1
PROGRAM=$2
WHAT=$3

if [ -x "$PROGRAM" ] || command -v "$(basename "$PROGRAM")" >/dev/null 2>&1; then
    echo "install_debian: $PACKAGE already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_debian: no apt-get here; $WHAT will be skipped"
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "install_debian: not root and no password-less sudo; $WHAT will be skipped"
    exit 0
fi

log=$(mktemp) || log=/dev/null
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# temporary, tests/support/install_debian.sh: start no service\nexit 101\n' \
        | $SUDO tee "$policy" >/dev/null && $SUDO chmod 755 "$policy"
fi

apt_install() {
    $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$PACKAGE" >>"$log" 2>&1
}

started=$(date +%s)
# Try with the package lists there are; refresh them only when that fails.
if apt_install || { $SUDO apt-get update -q >>"$log" 2>&1 && apt_install; }; then
    echo "install_debian: installed $PACKAGE in $(($(date +%s) - started))s"
else
    echo "install_debian: installing $PACKAGE failed ($(tail -n 1 "$log")); $WHAT will be skipped"
fi

if [ -n "$policy" ]; then
    $SUDO rm -f "$policy"
fi
[ "$log" = /dev/null ] || rm -f "$log"
exit 0
