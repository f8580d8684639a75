#!/bin/sh
# The official image's root credentials become FerretDB's setup user in the admin database,
# created on the first start (with an empty /data/db) and required from then on.
set -eu
if [ -n "${MONGO_INITDB_ROOT_USERNAME:-}" ]; then
  export FERRETDB_SETUP_USERNAME="$MONGO_INITDB_ROOT_USERNAME"
  export FERRETDB_SETUP_PASSWORD="${MONGO_INITDB_ROOT_PASSWORD:?MONGO_INITDB_ROOT_PASSWORD is required with MONGO_INITDB_ROOT_USERNAME}"
  export FERRETDB_SETUP_DATABASE=admin
fi
exec "$@"
