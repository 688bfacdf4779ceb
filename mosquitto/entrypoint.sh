#!/bin/sh
# Makes the dynamic-security plugin's file on the first start (only the admin client the app logs in with), then
# runs Mosquitto. The app provisions everything else at each connection, so a lost file is rebuilt from the database.
set -eu
state=/mosquitto/data/dynamic-security.json
case "${MQTT_ADMIN_PASSWORD:-}" in
  change-me*) echo "set MQTT_ADMIN_PASSWORD in .env: it still holds the placeholder of .env.example" >&2; exit 1 ;;
esac
if [ ! -s "$state" ]; then
  : "${MQTT_ADMIN_PASSWORD:?set MQTT_ADMIN_PASSWORD}"
  mosquitto_ctrl dynsec init "$state" admin "$MQTT_ADMIN_PASSWORD" >/dev/null
  chown mosquitto:mosquitto "$state"
  chmod 600 "$state"
fi
exec mosquitto -c /mosquitto/config/mosquitto.conf
