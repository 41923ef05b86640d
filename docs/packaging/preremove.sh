#!/bin/sh
# Debian prerm: stop and disable the unit.
set -e
if [ -d /run/systemd/system ]; then
	systemctl disable --now spillway.service || true
fi
