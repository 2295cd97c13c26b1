#!/usr/bin/env bash
# localdb.sh: make sure there is a PostgreSQL database to use and print its
# DATABASE_URL on stdout (one line). What it did goes to stderr.
#
#   scripts/localdb.sh [NAME]   NAME defaults to connects_demo
#   scripts/localdb.sh --stop   stop the throwaway cluster, if one is running
#
# In order:
#   1. DATABASE_URL is set: print it unchanged.
#   2. A server answers on 127.0.0.1:$PGPORT_PROBE (default 5432; user postgres,
#      trust auth): create NAME there if missing.
#   3. Otherwise create (once) and start a throwaway cluster in .demo/ (port
#      54329, trust auth, 127.0.0.1 only) with this machine's PostgreSQL
#      binaries, and create NAME in it. As root, the cluster runs as the
#      `postgres` system user (else `nobody`); if that user cannot reach the
#      project folder, the cluster lives under /tmp instead.
#
# PGPORT_PROBE=1 (any port nothing listens on) skips step 2, for testing.
set -euo pipefail

readonly DEMO_PORT=54329
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT

say() { printf 'localdb: %s\n' "$*" >&2; }
die() { printf 'localdb: error: %s\n' "$*" >&2; exit 1; }

# redact hides a password in a URL: scheme://user:secret@host -> user:***@host.
redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#'; }

usage() {
	sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

# --- PostgreSQL binaries ---------------------------------------------------

# bindir finds the directory holding initdb and pg_ctl, or prints nothing.
bindir() {
	local d
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then
			printf '%s\n' "$d"
			return
		fi
	fi
	# Newest version first.
	while IFS= read -r d; do
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
			printf '%s\n' "$d"
			return
		fi
	done < <(printf '%s\n' /usr/lib/postgresql/*/bin /usr/pgsql-*/bin /usr/local/pgsql/bin | sort -rV)
	d=$(command -v initdb 2>/dev/null || true)
	if [[ -n $d ]]; then
		d=$(dirname "$d")
		[[ -x $d/pg_ctl ]] && printf '%s\n' "$d"
	fi
	return 0
}

BINDIR=$(bindir)

# tool prints the path of a PostgreSQL client program: from PATH, else BINDIR.
tool() {
	if command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
	elif [[ -n $BINDIR && -x $BINDIR/$1 ]]; then
		printf '%s\n' "$BINDIR/$1"
	else
		die "$1 not found: install the PostgreSQL client programs (e.g. apt-get install postgresql-client), or set DATABASE_URL"
	fi
}

# --- running as the cluster's owner ----------------------------------------

# shquote quotes one word for /bin/sh.
shquote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# as_user USER CMD... runs CMD as USER (when root) from /, so that a working
# directory the user cannot read does not matter.
as_user() {
	local user=$1
	shift
	if [[ $(id -u) -ne 0 ]]; then
		(cd / && "$@")
	elif command -v runuser >/dev/null 2>&1; then
		(cd / && runuser -u "$user" -- "$@")
	else
		local cmd="" w
		for w in "$@"; do cmd+="$(shquote "$w") "; done
		(cd / && su -s /bin/sh "$user" -c "$cmd")
	fi
}

# run_user picks the unprivileged user the cluster runs as when we are root.
run_user() {
	if id -u postgres >/dev/null 2>&1; then
		echo postgres
	elif id -u nobody >/dev/null 2>&1; then
		echo nobody
	else
		die "running as root and there is neither a 'postgres' nor a 'nobody' user to run PostgreSQL as; run as an ordinary user or set DATABASE_URL"
	fi
}

# tmp_base is the fallback place for the cluster: per user and project.
tmp_base() {
	local h
	if command -v sha256sum >/dev/null 2>&1; then
		h=$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
	else
		h=$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)
	fi
	printf '/tmp/connects-reconciler-demo-%s-%s\n' "$(id -u)" "$h"
}

# Cluster layout under BASE: pg/ (data), sock/ (unix socket), pg.log.
data_of() { printf '%s/pg\n' "$1"; }
sock_of() { printf '%s/sock\n' "$1"; }
log_of() { printf '%s/pg.log\n' "$1"; }

# owner_of prints who owns an existing data directory.
owner_of() { stat -c %U "$1"; }

# cluster_running BASE: 0 when the cluster in BASE exists and runs.
cluster_running() {
	local data
	data=$(data_of "$1")
	[[ -f $data/PG_VERSION ]] || return 1
	[[ -n $BINDIR ]] || return 1
	as_user "$(owner_of "$data")" "$BINDIR/pg_ctl" -D "$data" status >/dev/null 2>&1
}

# --- --stop ----------------------------------------------------------------

stop() {
	local base data stopped=0
	for base in "$ROOT/.demo" "$(tmp_base)"; do
		data=$(data_of "$base")
		[[ -f $data/PG_VERSION ]] || continue
		if cluster_running "$base"; then
			say "stopping the throwaway cluster in $data"
			as_user "$(owner_of "$data")" "$BINDIR/pg_ctl" -D "$data" -m fast -w stop >&2 ||
				die "pg_ctl stop failed for $data; see $(log_of "$base")"
			stopped=1
		else
			say "the throwaway cluster in $data is not running"
		fi
	done
	[[ $stopped -eq 1 ]] || say "no throwaway cluster running"
}

# --- creating the database -------------------------------------------------

valid_name() { [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]]; }

# ensure_db PORT NAME: create NAME on 127.0.0.1:PORT as postgres if missing.
ensure_db() {
	local port=$1 name=$2 psql createdb exists
	psql=$(tool psql)
	createdb=$(tool createdb)
	if ! exists=$(PGCONNECT_TIMEOUT=5 "$psql" -X -q -w -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname = '$name'" 2>&1); then
		printf '%s\n' "$exists" >&2
		die "cannot connect to 127.0.0.1:$port as user postgres without a password; set DATABASE_URL to a database you can use"
	fi
	if [[ $exists == 1 ]]; then
		say "database $name already exists on 127.0.0.1:$port"
	else
		PGCONNECT_TIMEOUT=5 "$createdb" -w -h 127.0.0.1 -p "$port" -U postgres "$name" >&2 ||
			die "createdb $name on 127.0.0.1:$port failed"
		say "created database $name on 127.0.0.1:$port"
	fi
}

url_for() { printf 'postgres://postgres@127.0.0.1:%s/%s?sslmode=disable\n' "$1" "$2"; }

# --- the throwaway cluster -------------------------------------------------

# pick_base decides where the cluster lives and who runs it; sets BASE, OWNER.
pick_base() {
	BASE="$ROOT/.demo"
	OWNER=$(id -un)
	if [[ $(id -u) -ne 0 ]]; then
		return
	fi
	# A cluster made earlier keeps its place and owner.
	local b
	for b in "$ROOT/.demo" "$(tmp_base)"; do
		if [[ -f $(data_of "$b")/PG_VERSION ]]; then
			BASE=$b
			OWNER=$(owner_of "$(data_of "$b")")
			[[ $OWNER != root ]] || die "$(data_of "$b") is owned by root; PostgreSQL will not run as root. Remove it and try again"
			return
		fi
	done
	OWNER=$(run_user)
	if ! as_user "$OWNER" test -x "$ROOT"; then
		BASE=$(tmp_base)
		say "user $OWNER cannot reach $ROOT, so the cluster goes under $BASE instead of $ROOT/.demo"
	fi
}

# prepare_dirs makes BASE's directories, owned by OWNER when we are root.
prepare_dirs() {
	local data sock log
	data=$(data_of "$BASE")
	sock=$(sock_of "$BASE")
	log=$(log_of "$BASE")
	if [[ $BASE == /tmp/* ]]; then
		# A predictable name in /tmp: refuse what someone else planted there.
		[[ ! -L $BASE ]] || die "$BASE is a symbolic link; remove it and try again"
		if [[ -e $BASE ]]; then
			local o
			o=$(stat -c %U "$BASE")
			[[ $o == "$(id -un)" || $o == "$OWNER" ]] || die "$BASE belongs to $o; remove it and try again"
		fi
	fi
	mkdir -p "$BASE" "$data" "$sock"
	touch "$log"
	chmod 700 "$data"
	if [[ $(id -u) -eq 0 ]]; then
		[[ $BASE == /tmp/* ]] && chown "$OWNER" "$BASE"
		chown "$OWNER" "$data" "$sock" "$log"
	fi
	# Unix socket paths are limited to about 107 bytes.
	if (( ${#sock} + 16 > 107 )); then
		die "the socket path $sock/.s.PGSQL.$DEMO_PORT is too long for a unix socket; move the project to a shorter path or set DATABASE_URL"
	fi
}

create_cluster() {
	local data sock
	data=$(data_of "$BASE")
	sock=$(sock_of "$BASE")
	say "creating a throwaway PostgreSQL cluster in $data (binaries from $BINDIR, running as $OWNER)"
	as_user "$OWNER" "$BINDIR/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$(log_of "$BASE").initdb" 2>&1 || {
		cat "$(log_of "$BASE").initdb" >&2
		die "initdb failed (output above)"
	}
	rm -f "$(log_of "$BASE").initdb"
	# Only reachable from this machine; it is disposable, so durability is off.
	cat >>"$data/postgresql.conf" <<EOF

# connects-reconciler demo cluster (scripts/localdb.sh)
listen_addresses = '127.0.0.1'
port = $DEMO_PORT
unix_socket_directories = '$sock'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

start_cluster() {
	local data log
	data=$(data_of "$BASE")
	log=$(log_of "$BASE")
	local pg_isready
	pg_isready=$(tool pg_isready)
	if "$pg_isready" -q -h 127.0.0.1 -p "$DEMO_PORT" >/dev/null 2>&1; then
		die "something else already listens on 127.0.0.1:$DEMO_PORT; stop it or set DATABASE_URL"
	fi
	say "starting the throwaway cluster on 127.0.0.1:$DEMO_PORT (log: $log)"
	if ! as_user "$OWNER" "$BINDIR/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 2>&1; then
		tail -n 20 "$log" >&2 || true
		die "pg_ctl start failed (last lines of $log above)"
	fi
}

throwaway() {
	local name=$1
	[[ -n $BINDIR ]] || die "no PostgreSQL server answers on 127.0.0.1:$PROBE_PORT and no PostgreSQL server binaries (initdb, pg_ctl) were found (tried pg_config --bindir and /usr/lib/postgresql/*/bin); install PostgreSQL or set DATABASE_URL"
	pick_base
	prepare_dirs
	if [[ -f $(data_of "$BASE")/PG_VERSION ]]; then
		if cluster_running "$BASE"; then
			say "the throwaway cluster in $(data_of "$BASE") is already running"
		else
			start_cluster
		fi
	else
		create_cluster
		start_cluster
	fi
	ensure_db "$DEMO_PORT" "$name"
	url_for "$DEMO_PORT" "$name"
}

# --- main ------------------------------------------------------------------

case ${1:-} in
-h | --help)
	usage
	exit 0
	;;
--stop)
	[[ $# -eq 1 ]] || die "--stop takes no other arguments"
	stop
	exit 0
	;;
-*)
	usage
	die "unknown option $1"
	;;
esac
[[ $# -le 1 ]] || die "too many arguments; usage: scripts/localdb.sh [NAME] | --stop"
NAME=${1:-connects_demo}
valid_name "$NAME" || die "database name must be letters, digits and _ (not starting with a digit), at most 63 characters; got '$NAME'"

if [[ -n ${DATABASE_URL:-} ]]; then
	say "using DATABASE_URL from the environment: $(printf '%s' "$DATABASE_URL" | redact)"
	printf '%s\n' "$DATABASE_URL"
	exit 0
fi

PROBE_PORT=${PGPORT_PROBE:-5432}
[[ $PROBE_PORT =~ ^[0-9]+$ ]] || die "PGPORT_PROBE must be a port number, got '$PROBE_PORT'"
PG_ISREADY=$(tool pg_isready)
if "$PG_ISREADY" -q -h 127.0.0.1 -p "$PROBE_PORT" >/dev/null 2>&1; then
	say "a PostgreSQL server answers on 127.0.0.1:$PROBE_PORT"
	ensure_db "$PROBE_PORT" "$NAME"
	url_for "$PROBE_PORT" "$NAME"
	exit 0
fi
say "no PostgreSQL server answers on 127.0.0.1:$PROBE_PORT; using a throwaway cluster"
throwaway "$NAME"
