#!/bin/sh
# Install the Nagios 4 engine for the tests that run a real Nagios (tests/nagios_engine.py).
#
# Debian's nagios4-core is the lightest package with the engine binary /usr/sbin/nagios4
# (it pulls nagios4-common, monitoring-plugins-basic and a mailer, but no web server or
# CGI; the nagios4 package would add apache2 and PHP). The package's init script is never
# started: where no policy-rc.d forbids it already, a temporary one does during the install.
#
# Installs only when nagios4 is missing, apt-get exists and we are root or have
# password-less sudo. Quiet; prints one line; always exits 0, so a machine where it
# cannot install simply skips the Nagios tests.

PACKAGE=nagios4-core

if command -v nagios4 >/dev/null 2>&1 || [ -x /usr/sbin/nagios4 ]; then
    echo "install_nagios: nagios4 already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_nagios: no apt-get here; the Nagios tests will be skipped"
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "install_nagios: not root and no password-less sudo; the Nagios tests will be skipped"
    exit 0
fi

log=$(mktemp) || log=/dev/null
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# temporary, tests/install_nagios.sh: start no service\nexit 101\n' \
        | $SUDO tee "$policy" >/dev/null && $SUDO chmod 755 "$policy"
fi

apt_install() {
    $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$PACKAGE" >>"$log" 2>&1
}

started=$(date +%s)
# Try with the package lists there are; refresh them only when that fails.
if apt_install || { $SUDO apt-get update -q >>"$log" 2>&1 && apt_install; }; then
    echo "install_nagios: installed $PACKAGE in $(($(date +%s) - started))s"
else
    echo "install_nagios: installing $PACKAGE failed ($(tail -n 1 "$log")); the Nagios tests will be skipped"
fi

if [ -n "$policy" ]; then
    $SUDO rm -f "$policy"
fi
[ "$log" = /dev/null ] || rm -f "$log"
exit 0
