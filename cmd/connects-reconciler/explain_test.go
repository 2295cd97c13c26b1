package main

import (
	"encoding/json"
	"strings"
	"testing"
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
