#!/bin/bash
# First start of the compose PostgreSQL: one role and one database per service, each
# database reachable only by its owner. Passwords come from the container environment.
set -euo pipefail

for service in identity documents meetings notifications reports; do
    password_var="${service^^}_DB_PASSWORD"
    password="${!password_var:?$password_var is not set}"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v name="$service" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
