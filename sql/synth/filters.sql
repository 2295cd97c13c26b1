{{- /* name: filters (fragments, not statements)

The predicate owed.sql filters every table with, rendered by its template
call .In with a proposal-id column (synth.filter): in_table keeps the
proposals listed in a table (Col, Table: synth_candidates, the proposals a
day's online path decides); the reference keeps every proposal (TRUE). */ -}}
{{define "in_table"}}{{.Col}} IN (SELECT id FROM {{.Table}}){{end}}
