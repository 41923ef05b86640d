#!/bin/sh
# Debian postrm: purge removes the logs, the state (temp files) and the
# user; remove keeps them, as Debian's nginx does.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
if [ "$1" = purge ]; then
	rm -rf /var/log/spillway /var/lib/spillway /run/spillway
	if getent passwd spillway >/dev/null; then
		userdel spillway || true
	fi
fi
