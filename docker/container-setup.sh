#!/bin/sh
# Runs once in docker/Dockerfile's runtime stage, as root, after the .deb is installed: enables
# the module and the demo site (the package enables nothing itself), makes Apache listen on 8080
# only, and hands Apache's runtime, lock and log directories and the demo's data to www-data, the
# user the container runs Apache as.
#   APACHE_CONFDIR=DIR        configure a copy of /etc/apache2 instead (a2enmod honours it)
#   FLASKPP_CONF_ONLY=1       only the configuration (tests/deploy/deb_test.sh lays the image's
#                             configuration out in a temporary directory this way)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
CONF=${APACHE_CONFDIR:-/etc/apache2}
export APACHE_CONFDIR="$CONF"
install -m 644 "$HERE/flaskpp-container.conf" "$CONF/conf-available/flaskpp-container.conf"
a2enmod -q flaskpp headers
a2ensite -q flaskpp-demo
a2dissite -q 000-default
a2disconf -q other-vhosts-access-log
a2enconf -q flaskpp-container
# A user that is not root cannot bind port 80: the demo site's own Listen (8080) is the only one.
echo "# Ports: the flaskpp-demo site listens on FLASKPP_DEMO_PORT (8080, conf-enabled/flaskpp-container.conf)." \
  > "$CONF/ports.conf"
if [ -z "${FLASKPP_CONF_ONLY:-}" ]; then
  # The session key comes from SECRET_KEY at run time: no key is baked into the image.
  rm -f /var/lib/mod-flaskpp/demo-secret-key
  mkdir -p /var/run/apache2/socks /var/lock/apache2 /var/log/apache2
  chown -R www-data:www-data /var/run/apache2 /var/lock/apache2 /var/log/apache2 /var/lib/mod-flaskpp/demo
fi
