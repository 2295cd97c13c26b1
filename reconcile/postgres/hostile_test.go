package postgres_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/connects/connects-reconciler/reconcile"
)

// Hostile or broken data never crashes a run and never produces a credit:
// the component is skipped and reported under a named kind, and the rest of
// the run proceeds (every case also holds one healthy owed refund, 99/base).
func TestHostileData(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		build func(m *market)
		want  []string // discrepancies, "proposal/component kind"
		// refunds besides the healthy one
		refunds []string
	}{
		{
			name: "unknown job status",
			build: func(m *market) {
				m.job(1, "archived", "", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
			},
			want: []string{"10/base invalid_job_state"},
		},
		{
			name: "unknown close reason",
			build: func(m *market) {
				m.job(1, "closed", "mutual_agreement", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.fee(100, 10, "boost", 4)
			},
			want: []string{"10/base invalid_job_state", "10/boost invalid_job_state"},
		},
		{
			name: "a removed job with no closed_at",
			build: func(m *market) {
				m.job(1, "removed", "tos_violation", nil)
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
			},
			want: []string{"10/base invalid_job_state"},
		},
		{
			name: "unknown interaction kinds count for nothing",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "boost", 4)
				m.touch(10, "poked", ago(3*h))
			},
			refunds: []string{"10/boost"},
		},
		{
			name: "a fee with a positive amount",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.entry(100, 4, "proposal_fee", 10, "base", "")
				m.fee(100, 10, "boost", 3)
			},
			want:    []string{"10/base positive_fee"},
			refunds: []string{"10/boost"},
		},
		{
			name: "one component charged to two accounts",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "boost", 3)
				m.fee(101, 10, "boost", 3)
			},
			want: []string{"10/boost mixed_accounts"},
		},
		{
			name: "a refund without a component",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.fee(100, 10, "boost", 3)
				m.entry(100, 4, "refund", 10, "", "online:10")
			},
			want: []string{"10/base refund_without_component", "10/boost refund_without_component"},
		},
		{
			name: "a proposal whose job is missing",
			build: func(m *market) {
				m.exec(`ALTER TABLE proposals DROP CONSTRAINT proposals_job_id_fkey`)
				m.proposal(10, 404, 100, nil)
				m.fee(100, 10, "base", 4)
			},
			want: []string{"10/base unknown_job"},
		},
		{
			name: "fees for a proposal that does not exist",
			build: func(m *market) {
				m.fee(100, 404, "base", 4)
				m.fee(100, 404, "boost", 2)
			},
			want: []string{"404/base unknown_proposal", "404/boost unknown_proposal"},
		},
		{
			name: "timestamps in the future",
			build: func(m *market) {
				m.job(1, "closed", "no_hire", ago(-24*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "base", 4)
				m.job(2, "open", "", nil)
				m.auction(2, ago(-h))
				m.proposal(20, 2, 101, nil)
				m.fee(101, 20, "boost", 4)
				m.bid(20, "outbid", ago(2*h))
			},
			want: []string{"10/base future_timestamp", "20/boost future_timestamp"},
		},
		{
			name: "a bid marked outbid with no time",
			build: func(m *market) {
				m.job(1, "open", "", nil)
				m.auction(1, ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "boost", 4)
				m.bid(10, "outbid", nil)
			},
			want: []string{"10/boost outbid_without_time"},
		},
		{
			name: "an unknown bid outcome",
			build: func(m *market) {
				m.job(1, "open", "", nil)
				m.auction(1, ago(2*h))
				m.proposal(10, 1, 100, nil)
				m.fee(100, 10, "boost", 4)
				m.bid(10, "lost", ago(3*h))
			},
			want: []string{"10/boost invalid_bid_outcome"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newMarket(t)
			m.job(9, "closed", "no_hire", ago(2*h))
			m.proposal(99, 9, 199, nil)
			m.fee(199, 99, "base", 5)
			tc.build(m)

			res, err := m.reconciler(reconcile.DefaultPolicy()).Run(context.Background(), "hostile")
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			var got []string
			for _, d := range discrepanciesOf(t, res.Plan) {
				got = append(got, fmt.Sprintf("%d/%s %s", d.ProposalID, d.Component, d.State))
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("discrepancies:\n got %v\nwant %v", got, tc.want)
			}
			wantRefunds := append([]string{"99/base"}, tc.refunds...)
			sort.Strings(wantRefunds)
			if got := issuedKeys(issuedOf(t, res)); !reflect.DeepEqual(got, wantRefunds) {
				t.Errorf("refunds written:\n got %v\nwant %v", got, wantRefunds)
			}
		})
	}
}
