#!/bin/sh
# Debian postinst: the spillway system user, its directories, the unit.
set -e
if ! getent passwd spillway >/dev/null; then
	useradd --system --user-group --home-dir /var/lib/spillway --no-create-home \
		--shell /usr/sbin/nologin --comment "spillway reverse proxy" spillway
fi
# systemd makes these for the unit (StateDirectory, LogsDirectory,
# RuntimeDirectory); without systemd they are needed as well.
install -d -o spillway -g spillway -m 0750 /var/lib/spillway /var/log/spillway
install -d -o spillway -g spillway -m 0755 /run/spillway
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	systemctl enable spillway.service
	systemctl restart spillway.service || echo "spillway: the service did not start; see journalctl -u spillway" >&2
fi
