#!/bin/sh
# generated from routes.dsl (sha256 a94f2607589aa8cdd5a1add0b383db00127fbf859f381ae71698b199e9acfb56) — do not edit
#
# Starts PgBouncer with the configuration next to this script. routes.dsl
# names the env vars holding each server's URL
# (postgres://USER:PASSWORD@HOST:PORT/DBNAME); this script splits every URL
# NAME into NAME_HOST, NAME_PORT, NAME_DBNAME, NAME_USER and NAME_PASSWORD
# (percent-decoded), fills the placeholders of pgbouncer.ini and
# userlist.txt from the environment, writes the results to PGBOUNCER_RUN_DIR
# (private to this user; never the image or the repository) and runs
# PgBouncer there.
#
# Needs: DATABASE_URL, DATABASE_READ_URL_1, DATABASE_READ_URL_2, MAIN_DB_USER, MAIN_DB_PASSWORD.
# Optional: PGBOUNCER_CONF_DIR (default /etc/pgbouncer),
# PGBOUNCER_RUN_DIR (default /tmp/pgbouncer).
set -eu

conf_dir=${PGBOUNCER_CONF_DIR:-/etc/pgbouncer}
run_dir=${PGBOUNCER_RUN_DIR:-/tmp/pgbouncer}

die() {
  echo "pgbouncer entrypoint: $*" >&2
  exit 1
}

# Percent-decodes each line of stdin (URL user names, passwords, database
# names may be percent-encoded).
percent_decode() {
  LC_ALL=C awk '
    BEGIN { for (i = 1; i < 256; i++) byte[sprintf("%02x", i)] = sprintf("%c", i) }
    {
      out = ""; rest = $0
      while (match(rest, /%[0-9A-Fa-f][0-9A-Fa-f]/)) {
        out = out substr(rest, 1, RSTART - 1) byte[tolower(substr(rest, RSTART + 1, 2))]
        rest = substr(rest, RSTART + RLENGTH)
      }
      print out rest
    }'
}

# parse_url NAME: exports the parts of the postgres:// URL held in $NAME.
parse_url() {
  name=$1
  eval "url=\${$name:-}"
  [ -n "$url" ] || die "$name is not set"
  case $url in
    postgres://*) rest=${url#postgres://} ;;
    postgresql://*) rest=${url#postgresql://} ;;
    *) die "$name is not a postgres:// URL" ;;
  esac
  case $rest in
    *\?*) echo "pgbouncer entrypoint: $name: URL parameters are ignored" >&2 ;;
  esac
  rest=${rest%%\?*}
  case $rest in
    *@*) ;;
    *) die "$name names no user" ;;
  esac
  userinfo=${rest%@*}
  location=${rest##*@}
  path=
  case $location in
    */*) path=${location#*/}; location=${location%%/*} ;;
  esac
  user=${userinfo%%:*}
  password=
  case $userinfo in
    *:*) password=${userinfo#*:} ;;
  esac
  case $location in
    \[*\]:*) host=${location%%]*}; host=${host#?}; port=${location##*]:} ;;
    \[*\]) host=${location%]}; host=${host#?}; port= ;;
    *:*) host=${location%:*}; port=${location##*:} ;;
    *) host=$location; port= ;;
  esac
  port=${port:-5432}
  [ -n "$host" ] || die "$name names no host"
  [ -n "$user" ] || die "$name names no user"
  case $port in
    *[!0-9]*) die "$name has an invalid port" ;;
  esac
  user=$(printf '%s\n' "$user" | percent_decode)
  export "${name}_HOST=$host" "${name}_PORT=$port" "${name}_USER=$user"
  export "${name}_PASSWORD=$(printf '%s\n' "$password" | percent_decode)"
  # libpq's default database is the user's name.
  export "${name}_DBNAME=$(printf '%s\n' "${path:-$user}" | percent_decode)"
}

# same_server NAME...: PgBouncer connects to a pool's hosts round-robin but
# with one port, database and login for all, so the URLs must agree on them.
same_server() {
  first=$1
  shift
  for other in "$@"; do
    for part in PORT DBNAME USER PASSWORD; do
      eval "mine=\${${first}_$part} theirs=\${${other}_$part}"
      [ "$mine" = "$theirs" ] || die "$first and $other differ in $part; a pool's servers must share it"
    done
  done
}

# require_login NAME: the services' login is interpolated into their URLs,
# so it must be non-empty and URL-safe.
require_login() {
  eval "value=\${$1:-}"
  [ -n "$value" ] || die "$1 is not set"
  case $value in
    *[!A-Za-z0-9._~-]*) die "$1 may hold only letters, digits and - . _ ~" ;;
  esac
}

# render TEMPLATE QUOTE: the template with every placeholder replaced by
# its variable's value, QUOTE doubled (the value sits between two QUOTEs).
render() {
  LC_ALL=C awk -v quote="$2" '
    {
      out = ""; rest = $0
      while (match(rest, /\$\{[A-Za-z_][A-Za-z0-9_]*\}/)) {
        name = substr(rest, RSTART + 2, RLENGTH - 3)
        if (!(name in ENVIRON)) { print "pgbouncer entrypoint: " name " is not set" > "/dev/stderr"; exit 1 }
        value = ENVIRON[name]
        if (index(value, "\n")) { print "pgbouncer entrypoint: " name " holds a line break" > "/dev/stderr"; exit 1 }
        gsub(quote, quote quote, value)
        out = out substr(rest, 1, RSTART - 1) value
        rest = substr(rest, RSTART + RLENGTH)
      }
      print out rest
    }' "$1"
}

# database `main`
parse_url DATABASE_URL
parse_url DATABASE_READ_URL_1
parse_url DATABASE_READ_URL_2
same_server DATABASE_READ_URL_1 DATABASE_READ_URL_2
require_login MAIN_DB_USER
require_login MAIN_DB_PASSWORD

umask 077
mkdir -p "$run_dir"
render "$conf_dir/pgbouncer.ini" "'" > "$run_dir/pgbouncer.ini"
render "$conf_dir/userlist.txt" '"' > "$run_dir/userlist.txt"
cd "$run_dir"
exec pgbouncer "$run_dir/pgbouncer.ini"
