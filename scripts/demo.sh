#!/usr/bin/env bash
# demo.sh: the `make demo` walkthrough. Finds or makes a database
# (scripts/localdb.sh), migrates it twice, seeds a synthetic marketplace, shows
# a dry run, runs for real, runs again to show nothing is added twice, and
# checks the result with psql.
#
# Needs ./bin/connects-reconciler (make build). Settings:
#   DEMO_PROPOSALS      proposals to seed (default 20000)
#   DEMO_SETTLE_DELAY   settle delay of every run (default 15m)
#   DEMO_BIN            the binary (default ./bin/connects-reconciler)
#   DATABASE_URL        use this database instead of a local one; the demo then
#                       seeds without --force (refused if it holds data) unless
#                       DEMO_FORCE=1
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BIN=${DEMO_BIN:-./bin/connects-reconciler}
OUT=.demo
PROPOSALS=${DEMO_PROPOSALS:-20000}
SETTLE=${DEMO_SETTLE_DELAY:-15m}
export RECONCILER_LOG_FORMAT=${RECONCILER_LOG_FORMAT:-console}

step() { printf '\n==> %s\n' "$*"; }
die() { printf '\ndemo: FAILED: %s\n' "$*" >&2; exit 1; }
redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#; s#(password=)[^ ]*#\1***#'; }

# reconciler runs the binary and says what a non-zero exit code means.
reconciler() {
	local rc=0
	"$BIN" "$@" || rc=$?
	if [[ $rc -ne 0 ]]; then
		local why
		case $rc in
		1) why="failed" ;;
		2) why="bad usage or configuration" ;;
		3) why="refused by a safety limit" ;;
		4) why="another run holds the lock" ;;
		*) why="unexpected exit code" ;;
		esac
		die "connects-reconciler $* exited $rc ($why); its log is above"
	fi
}

# show prints a report file, or when long its first 25 lines and its TOTALS.
show() {
	local file=$1 n
	n=$(wc -l <"$file")
	if ((n <= 60)); then
		cat "$file"
		return
	fi
	head -n 25 "$file"
	printf '  ... %d lines in all; the whole report is in %s ...\n\n' "$n" "$file"
	awk '/^TOTALS$/ { on = 1 } on' "$file"
}

# json_totals summarises the "totals" object of a report written with
# --format json (indented by two spaces), without jq.
json_totals() {
	awk '
	function key(s) { sub(/":.*/, "", s); sub(/^"/, "", s); return s }
	function val(s) { sub(/^"[^"]*": */, "", s); gsub(/"/, "", s); return s }
	/^  "refused": / { s = substr($0, 3); sub(/,$/, "", s); printf "  REFUSED: %s\n", val(s) }
	/^  "totals": \{/ { on = 1; depth = 1; next }
	!on { next }
	{
		line = $0; gsub(/^ +|,$/, "", line)
		if (line ~ /^\}/) {
			if (depth == 3 && item != "") printf "    %-28s refunds %7d   connects %9d\n", item, r, c
			item = ""
			if (--depth == 0) exit
			next
		}
		if (line ~ /\{\}$/) { if (depth == 1) printf "  %s: none\n", key(line); next }
		if (line ~ /\{$/) {
			depth++
			if (depth == 2) printf "  %s:\n", key(line)
			else if (depth == 3) { item = key(line); r = 0; c = 0 }
			next
		}
		if (depth == 1) printf "  %s: %s\n", key(line), val(line)
		else if (depth == 2) printf "    %-28s %s\n", key(line), val(line)
		else if (depth == 3) { if (key(line) == "refunds") r = val(line); else if (key(line) == "connects") c = val(line) }
	}' "$1"
}

[[ -x $BIN ]] || die "$BIN not found; build it first: make build"
PSQL=$(command -v psql || true)
[[ -n $PSQL ]] || die "psql not found; install the PostgreSQL client programs"
mkdir -p "$OUT"

step "Database: an existing DATABASE_URL, a server on 127.0.0.1:5432, or a throwaway cluster in $OUT/"
PRESET=${DATABASE_URL:+yes}
URL=$(bash scripts/localdb.sh connects_demo) || die "scripts/localdb.sh could not provide a database"
export DATABASE_URL=$URL
echo "DATABASE_URL=$(printf '%s' "$DATABASE_URL" | redact)"

step "Migrate (job tables plus the marketplace contract's tables)"
reconciler migrate --with-marketplace

step "Migrate again: a no-op"
reconciler migrate --with-marketplace

if [[ -n $PRESET && ${DEMO_FORCE:-} != 1 ]]; then
	step "Seed $PROPOSALS proposals (seed 42) into your DATABASE_URL, without --force: refused if it holds data (DEMO_FORCE=1 empties it first)"
	reconciler seed --proposals "$PROPOSALS" --seed 42
else
	step "Seed a synthetic marketplace: $PROPOSALS proposals, seed 42 (--force: the demo owns this database, so emptying it first is fine)"
	reconciler seed --proposals "$PROPOSALS" --seed 42 --force
fi

step "Dry run (settle delay $SETTLE): what would be written; nothing is"
reconciler run --dry-run --format json --settle-delay "$SETTLE" >"$OUT/plan.json"
echo "Totals of the plan ($OUT/plan.json):"
json_totals "$OUT/plan.json"
echo
reconciler run --dry-run --format table --settle-delay "$SETTLE" >"$OUT/plan.txt"
show "$OUT/plan.txt"

step "Run: write the missing refunds"
reconciler run --format table --settle-delay "$SETTLE" >"$OUT/run1.txt"
show "$OUT/run1.txt"

step "Run again: every owed refund is already written, so nothing is added"
reconciler run --format table --settle-delay "$SETTLE" >"$OUT/run2.txt"
show "$OUT/run2.txt"
grep -q '^REFUNDS WRITTEN (0)$' "$OUT/run2.txt" ||
	die "the second run wrote refunds (see $OUT/run2.txt); it should have written none (an event may have just passed the settle delay between the runs)"
# The second run is incremental: it looked only at what changed since the
# first, so its report says what it did not check instead of printing zeros.
grep -q 'not checked: incremental run' "$OUT/run2.txt" ||
	die "the second (incremental) run's report does not say what it did not check (see $OUT/run2.txt)"

step "Check with psql: the runs recorded, and every balance equals its ledger sum"
"$PSQL" -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c \
	"SELECT id, status, refunds_planned, refunds_issued, connects_issued FROM reconciler_runs ORDER BY started_at"
CHECK=$("$PSQL" -X -q -v ON_ERROR_STOP=1 -tA -F ' ' "$DATABASE_URL" -c "
	WITH ledger AS (
		SELECT freelancer_id, sum(amount) AS total FROM connects_ledger GROUP BY freelancer_id)
	SELECT count(*), count(*) FILTER (WHERE b.balance IS DISTINCT FROM l.total)
	FROM connects_balances b FULL JOIN ledger l USING (freelancer_id)") ||
	die "the balance check query failed"
read -r BALANCES MISMATCHED <<<"$CHECK"
echo "balances checked: $BALANCES; not equal to their ledger sum: $MISMATCHED"
[[ $MISMATCHED == 0 ]] || die "$MISMATCHED balances differ from their ledger sum"

step "Done. Reports are in $OUT/; stop a throwaway cluster with: bash scripts/localdb.sh --stop (make clean removes it)"
