// Package sql holds the SQL of connects-reconciler as embedded files: the
// marketplace schema used for development and tests, the job's own
// migrations, every statement the job runs (no SQL text in the job's Go), and
// the synthetic-data generators' statements. Test helpers (pgtest), the
// generators (their settings, ANALYZE, the clock) and the benchmark keep
// their few administrative statements (CREATE DATABASE, ANALYZE, settings)
// beside their code. It holds no logic; internal/sqlfile
// reads and renders the files.
package sql

import "embed"

// Marketplace is the goose migration set that creates the contract's tables
// (jobs, proposals, auctions, interactions, the Connects ledger and balances)
// with the indexes the job's queries need. Production already has them.
//
//go:embed marketplace/*.sql
var Marketplace embed.FS

// Migrations is the goose migration set for the job's own tables.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Queries holds the job's statements, one per file, named after the file:
// only what the job runs in production.
//
//go:embed queries/*.sql
var Queries embed.FS

// Synth holds the statements of the synthetic marketplace (package synth):
// the seed, a day of activity, the benchmark's references. Never run by the
// job.
//
//go:embed synth/*.sql
var Synth embed.FS
