#!/usr/bin/env bash
# Make sure a MariaDB server binary exists (the tests and the demo start their own private server with it).
# Installs Debian's mariadb-server with apt-get when it is missing and we can; otherwise says what to install.
set -euo pipefail
for dir in "" /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
  for name in mariadbd mysqld; do
    if [ -z "$dir" ]; then command -v "$name" >/dev/null 2>&1 && exit 0; else [ -x "$dir/$name" ] && exit 0; fi
  done
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "MariaDB server not found: installing Debian's mariadb-server with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq mariadb-server mariadb-client >/dev/null
  exit 0
fi
echo "MariaDB server not found: install it (Debian/Ubuntu: sudo apt-get install mariadb-server) and re-run" >&2
exit 1
