package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/connects/connects-reconciler/reconcile"
	"github.com/connects/connects-reconciler/reconcile/postgres/pgtest"
)

func TestExplainCommand(t *testing.T) {
	t.Parallel()
	url, _ := smallMarket(t)
	env := map[string]string{"DATABASE_URL": url}

	code, stdout, stderr := invoke(t, env, "explain", "--proposal", "20")
	if code != exitOK {
		t.Fatalf("explain: exit %d:\n%s", code, stderr)
	}
	for _, want := range []string{"Proposal 20 by freelancer 100 on job 2 (removed, tos_violation",
		"base: charged 2 Connects. Policy: OWED under tos_removed.",
		"NOT REFUNDED: owed and missing from the ledger; the next run writes it", "proposal_fee base      -2  f20"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text lacks %q:\n%s", want, stdout)
		}
	}

	code, stdout, stderr = invoke(t, env, "explain", "--freelancer", "101", "--format", "json")
	if code != exitOK {
		t.Fatalf("explain --freelancer: exit %d:\n%s", code, stderr)
	}
	var out struct {
		Proposals []struct {
			ProposalID int64 `json:"proposal_id"`
			Components []struct {
				Component string `json:"component"`
				Owed      bool   `json:"owed"`
				Rule      string `json:"rule"`
				Reason    string `json:"reason"`
				Status    string `json:"status"`
			} `json:"components"`
			Ledger []struct {
				Key string `json:"idempotency_key"`
			} `json:"ledger"`
		} `json:"proposals"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("json: %v\n%s", err, stdout)
	}
	if len(out.Proposals) != 1 || out.Proposals[0].ProposalID != 11 || len(out.Proposals[0].Ledger) != 2 {
		t.Fatalf("freelancer 101: got %+v, want proposal 11 with its fee and refund", out.Proposals)
	}
	base := out.Proposals[0].Components[0]
	if base.Component != "base" || !base.Owed || base.Rule != "closed_without_hire" || base.Status != "refunded" {
		t.Errorf("11/base: got %+v, want owed under closed_without_hire, refunded", base)
	}

	if code, _, stderr := invoke(t, env, "explain", "--proposal", "999"); code != exitUsage || !strings.Contains(stderr, "no proposal 999") {
		t.Errorf("unknown proposal: exit %d:\n%s", code, stderr)
	}
}

// explainCase builds the marketplace of one case file of
// reconcile/postgres/testdata/policy (format: its README.md) in db: the
// marketplace lines only (policy lines come back as flags, want
// discrepancy lines as "proposal/component kind"). Ages are before now().
func explainCase(t *testing.T, db *sqlx.DB, file string) (flags []string, defects []string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	freelancer := map[string]string{} // proposal -> freelancer
	ago := func(attrs map[string]string, name string) any {
		if v, ok := attrs[name]; ok {
			return v // an interval PostgreSQL reads: 2h, -24h, 90s
		}
		return nil
	}
	for n, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		var args []string
		attrs := map[string]string{}
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				attrs[k] = v
			} else {
				args = append(args, f)
			}
		}
		opt := func(i int) any {
			if i < len(args) {
				return args[i]
			}
			return nil
		}
		account := func(proposal string) string {
			if a, ok := attrs["account"]; ok {
				return a
			}
			return freelancer[proposal]
		}
		entry := func(account string, amount, typ, proposal string, component any, key string) {
			if key == "" {
				key = fmt.Sprintf("case:%d", n)
			}
			db.MustExec(`INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
			             VALUES ($1, $2, $3, $4, $5, $6)`, account, amount, typ, proposal, component, key)
			db.MustExec(`INSERT INTO connects_balances (freelancer_id, balance) VALUES ($1, $2)
			             ON CONFLICT (freelancer_id) DO UPDATE SET balance = connects_balances.balance + EXCLUDED.balance`, account, amount)
		}
		switch fields[0] {
		case "policy":
			for _, kv := range fields[1:] {
				flags = append(flags, "--"+strings.ReplaceAll(kv, "_", "-"))
			}
		case "sql":
			db.MustExec(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "sql")))
		case "job":
			db.MustExec(`INSERT INTO jobs (id, client_id, status, close_reason, closed_at)
			             VALUES ($1, 1, $2, $3, now() - $4::interval)`, args[0], args[1], opt(2), ago(attrs, "at"))
		case "proposal":
			freelancer[args[0]] = attrs["freelancer"]
			db.MustExec(`INSERT INTO proposals (id, job_id, freelancer_id, submitted_at, withdrawn_at)
			             VALUES ($1, $2, $3, now() - interval '30 days', now() - $4::interval)`, args[0], attrs["job"], attrs["freelancer"], ago(attrs, "withdrawn"))
			db.MustExec(`INSERT INTO connects_balances (freelancer_id, balance) VALUES ($1, 0) ON CONFLICT DO NOTHING`, attrs["freelancer"])
		case "fee":
			typ := map[string]string{"base": "proposal_fee", "boost": "boost_fee"}[args[1]]
			entry(account(args[0]), "-"+args[2], typ, args[0], args[1], "")
		case "entry":
			entry(account(args[1]), args[3], args[0], args[1], args[2], attrs["key"])
		case "auction":
			db.MustExec(`INSERT INTO boost_auctions (job_id, ended_at) VALUES ($1, now() - $2::interval)`, args[0], ago(attrs, "ended"))
		case "bid":
			db.MustExec(`INSERT INTO boost_bids (proposal_id, outcome, outbid_at) VALUES ($1, $2, now() - $3::interval)`, args[0], args[1], ago(attrs, "at"))
		case "touch":
			db.MustExec(`INSERT INTO proposal_interactions (proposal_id, kind, occurred_at) VALUES ($1, $2, now() - $3::interval)`, args[0], args[1], ago(attrs, "at"))
		case "want":
			if len(args) >= 3 && args[0] == "discrepancy" {
				defects = append(defects, args[1]+" "+args[2])
			}
		default:
			t.Fatalf("%s:%d: a line this test does not know: %q", file, n+1, line)
		}
	}
	return flags, defects
}

// Every defect kind, explained through the real binary: each
// testdata/policy/defect_*.txt case's marketplace, then explain on each
// discrepancy the case expects. The component is not judged: its status and
// reason are the defect, it is not owed, and both the why and the outcome are
// the wording table's (never the fallback, never "nothing to refund").
// Unknown proposals (ledger entries only) and unknown jobs are explained.
func TestExplainDefectsThroughTheBinary(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	files, err := filepath.Glob("../../reconcile/postgres/testdata/policy/defect_*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no defect cases: %v", err)
	}
	seen := map[reconcile.State]bool{}
	for _, file := range files {
		url := pgtest.NewURL(t)
		db := sqlx.MustOpen("postgres", url)
		flags, defects := explainCase(t, db, file)
		db.Close()
		if len(defects) == 0 {
			t.Fatalf("%s: no want discrepancy line", file)
		}
		for _, d := range defects {
			key, kind, _ := strings.Cut(d, " ")
			proposal, component, _ := strings.Cut(key, "/")
			args := append([]string{"explain", "--proposal", proposal, "--format", "json"}, flags...)
			code, stdout, stderr := exe(t, bin, []string{"DATABASE_URL=" + url}, args...)
			if code != exitOK {
				t.Fatalf("%s: explain %s: exit %d:\n%s", file, key, code, stderr)
			}
			var out struct {
				Proposals []struct {
					Exists     bool `json:"exists"`
					Components []struct {
						Component string `json:"component"`
						Owed      bool   `json:"owed"`
						Reason    string `json:"reason"`
						Defect    string `json:"defect"`
						Status    string `json:"status"`
						Why       string `json:"why"`
						Outcome   string `json:"outcome"`
					} `json:"components"`
				} `json:"proposals"`
			}
			if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out.Proposals) != 1 {
				t.Fatalf("%s: explain %s: %v\n%s", file, key, err, stdout)
			}
			if got := out.Proposals[0].Exists; got != (kind != string(reconcile.UnknownProposal)) {
				t.Errorf("%s: %s: exists %v", file, key, got)
			}
			found := false
			for _, c := range out.Proposals[0].Components {
				if c.Component != component {
					continue
				}
				found = true
				if c.Status != kind || c.Defect != kind || c.Reason != kind || c.Owed {
					t.Errorf("%s: %s: status %s, defect %s, reason %s, owed %v; want %s, not owed", file, key, c.Status, c.Defect, c.Reason, c.Owed, kind)
				}
				if !strings.HasPrefix(c.Outcome, "NOT JUDGED: the data is broken ("+kind+")") ||
					strings.HasPrefix(c.Why, "the policy's reason") || c.Why == "" {
					t.Errorf("%s: %s: why %q, outcome %q", file, key, c.Why, c.Outcome)
				}
			}
			if !found {
				t.Errorf("%s: explain %s: no %s component:\n%s", file, key, component, stdout)
			}
			seen[reconcile.State(kind)] = true

			code, stdout, stderr = exe(t, bin, []string{"DATABASE_URL=" + url}, append([]string{"explain", "--proposal", proposal}, flags...)...)
			if code != exitOK || !strings.Contains(stdout, fmt.Sprintf("%s: charged", component)) ||
				!strings.Contains(stdout, "Policy: NOT JUDGED (defect "+kind+").") {
				t.Errorf("%s: explain %s as text: exit %d:\n%s%s", file, key, code, stdout, stderr)
			}
			switch reconcile.State(kind) {
			case reconcile.UnknownJob:
				if !strings.Contains(stdout, "on job 404 (no such job)") {
					t.Errorf("%s: the text does not say the job does not exist:\n%s", file, stdout)
				}
			case reconcile.UnknownProposal:
				if !strings.Contains(stdout, "Proposal "+proposal+": no such proposal, yet ledger entries carry its id") {
					t.Errorf("%s: the text does not say the proposal does not exist:\n%s", file, stdout)
				}
			}
		}
	}
	for _, s := range reconcile.DiscrepancyStates {
		switch s {
		case reconcile.UnexpectedRefund, reconcile.WrongAccount, reconcile.AmountMismatch, reconcile.MissingBalance:
			continue // not defects
		}
		if !seen[s] {
			t.Errorf("no defect_*.txt case explains %s", s)
		}
	}
}
