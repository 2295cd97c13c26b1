package postgres_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// A policyCase is one file of testdata/policy (the format is described in
// testdata/policy/README.md): a marketplace, a policy, and what one run
// must leave behind.
type policyCase struct {
	file   string
	policy reconcile.Policy
	build  []func(m *market)
	// ledger, rules and discrepancies map what the file expects to the
	// line that says so.
	ledger        map[string]expected // "proposal/component" -> "amount@account"
	rules         map[string]expected // "proposal/component" -> rule
	discrepancies map[string]int      // "proposal/component kind [rule=R] [to=A]" -> line
	pending       expected            // line 0: no want pending line, so 0
}

type expected struct {
	value string
	line  int
}

// at names a line of the case's file, as compilers do.
func (c *policyCase) at(line int) string { return fmt.Sprintf("%s:%d", c.file, line) }

func parsePolicyCase(file string) (*policyCase, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := &policyCase{
		file:          file,
		policy:        reconcile.DefaultPolicy(),
		ledger:        map[string]expected{},
		rules:         map[string]expected{},
		discrepancies: map[string]int{},
		pending:       expected{value: "0"},
	}
	freelancers := map[int64]int64{} // proposal -> freelancer, for fee and entry
	ledgerNone, wants := 0, 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		text := stripComment(sc.Text())
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s: %s\n\t%s", c.at(n), fmt.Sprintf(format, args...), strings.TrimSpace(sc.Text()))
		}
		verb := fields[0]
		if verb == "sql" {
			q := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text), "sql"))
			if q == "" {
				return nil, fail("sql: no statement")
			}
			line := n
			c.build = append(c.build, func(m *market) {
				if _, err := m.db.ExecContext(m.ctx, q); err != nil {
					m.t.Fatalf("%s: sql: %v", c.at(line), err)
				}
			})
			continue
		}
		if verb == "want" {
			wants++
			if len(fields) < 2 {
				return nil, fail("want what? ledger, rule, discrepancy or pending")
			}
			switch args := fields[2:]; fields[1] {
			case "ledger":
				if len(args) == 1 && args[0] == "none" {
					ledgerNone = n
					continue
				}
				if len(args) != 2 || !isKey(args[0]) || !isAmountAt(args[1]) {
					return nil, fail("usage: want ledger PROPOSAL/COMPONENT CONNECTS@ACCOUNT, or want ledger none")
				}
				if w, dup := c.ledger[args[0]]; dup {
					return nil, fail("%s already expected on line %d", args[0], w.line)
				}
				c.ledger[args[0]] = expected{args[1], n}
			case "rule":
				if len(args) != 2 || !isKey(args[0]) {
					return nil, fail("usage: want rule PROPOSAL/COMPONENT RULE")
				}
				if w, dup := c.rules[args[0]]; dup {
					return nil, fail("%s already expected on line %d", args[0], w.line)
				}
				c.rules[args[0]] = expected{args[1], n}
			case "discrepancy":
				d, err := discrepancyText(args)
				if err != nil {
					return nil, fail("%v", err)
				}
				if line, dup := c.discrepancies[d]; dup {
					return nil, fail("already expected on line %d", line)
				}
				c.discrepancies[d] = n
			case "pending":
				if len(args) != 1 {
					return nil, fail("usage: want pending COUNT")
				}
				count, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil {
					return nil, fail("pending: %q is not a count", args[0])
				}
				if c.pending.line != 0 {
					return nil, fail("pending already expected on line %d", c.pending.line)
				}
				c.pending = expected{strconv.FormatInt(count, 10), n}
			default:
				return nil, fail("want %s: want ledger, rule, discrepancy or pending", fields[1])
			}
			continue
		}
		if verb == "policy" {
			if len(fields) < 2 {
				return nil, fail("policy: no setting")
			}
			for _, kv := range fields[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return nil, fail("policy: %q is not NAME=VALUE", kv)
				}
				if err := setPolicy(&c.policy, k, v); err != nil {
					return nil, fail("policy %s: %v", k, err)
				}
			}
			continue
		}

		args, attrs := splitAttrs(fields[1:])
		p := &lineParser{args: args, attrs: attrs}
		switch verb {
		case "job": // job ID STATUS [REASON] [at=AGE]
			if len(args) < 2 || len(args) > 3 {
				return nil, fail("usage: job ID STATUS [REASON] [at=AGE]")
			}
			id, status, reason, closed := p.id(0), args[1], p.opt(2), p.age("at")
			c.build = append(c.build, func(m *market) { m.job(id, status, reason, closed) })
		case "proposal": // proposal ID job=J freelancer=F [withdrawn=AGE]
			if len(args) != 1 {
				return nil, fail("usage: proposal ID job=JOB freelancer=ACCOUNT [withdrawn=AGE]")
			}
			id, job, freelancer, withdrawn := p.id(0), p.attrID("job", true), p.attrID("freelancer", true), p.age("withdrawn")
			freelancers[id] = freelancer
			c.build = append(c.build, func(m *market) { m.proposal(id, job, freelancer, withdrawn) })
		case "fee": // fee PROPOSAL COMPONENT CONNECTS [account=A]
			if len(args) != 3 || (args[1] != "base" && args[1] != "boost") {
				return nil, fail("usage: fee PROPOSAL base|boost CONNECTS [account=ACCOUNT]")
			}
			proposal, component, connects := p.id(0), args[1], p.int(2)
			account := p.account(proposal, freelancers)
			c.build = append(c.build, func(m *market) { m.fee(account, proposal, component, connects) })
		case "entry": // entry TYPE PROPOSAL COMPONENT CONNECTS [account=A] [key=K]
			if len(args) != 4 {
				return nil, fail("usage: entry TYPE PROPOSAL COMPONENT CONNECTS [account=ACCOUNT] [key=KEY]")
			}
			typ, proposal, component, connects := args[0], p.id(1), args[2], p.int(3)
			account, key := p.account(proposal, freelancers), p.str("key")
			c.build = append(c.build, func(m *market) { m.entry(account, connects, typ, proposal, component, key) })
		case "auction": // auction JOB [ended=AGE]
			if len(args) != 1 {
				return nil, fail("usage: auction JOB [ended=AGE]")
			}
			job, ended := p.id(0), p.age("ended")
			c.build = append(c.build, func(m *market) { m.auction(job, ended) })
		case "bid": // bid PROPOSAL OUTCOME [at=AGE]
			if len(args) != 2 {
				return nil, fail("usage: bid PROPOSAL OUTCOME [at=AGE]")
			}
			proposal, outcome, outbid := p.id(0), args[1], p.age("at")
			c.build = append(c.build, func(m *market) { m.bid(proposal, outcome, outbid) })
		case "touch": // touch PROPOSAL KIND at=AGE
			if len(args) != 2 {
				return nil, fail("usage: touch PROPOSAL KIND at=AGE")
			}
			proposal, kind, occurred := p.id(0), args[1], p.age("at")
			if occurred == nil && p.err == nil {
				p.err = fmt.Errorf("touch needs at=AGE")
			}
			c.build = append(c.build, func(m *market) { m.touch(proposal, kind, occurred) })
		default:
			return nil, fail("unknown line %q: want policy, job, proposal, fee, entry, auction, bid, touch, sql or want", verb)
		}
		if p.err == nil {
			for k := range p.attrs {
				p.err = fmt.Errorf("%s: unknown setting %s=", verb, k)
				break
			}
		}
		if p.err != nil {
			return nil, fail("%v", p.err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	switch {
	case wants == 0:
		return nil, fmt.Errorf("%s: no want lines: say what the run must leave (want ledger none if nothing is refunded)", file)
	case ledgerNone != 0 && len(c.ledger) > 0:
		return nil, fmt.Errorf("%s: want ledger none, but other want ledger lines too", c.at(ledgerNone))
	}
	return c, nil
}

// stripComment cuts a line at a # that starts it or follows a space.
func stripComment(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t') {
			return s[:i]
		}
	}
	return s
}

// splitAttrs separates NAME=VALUE fields from the others.
func splitAttrs(fields []string) (args []string, attrs map[string]string) {
	attrs = map[string]string{}
	for _, f := range fields {
		if k, v, ok := strings.Cut(f, "="); ok {
			attrs[k] = v
		} else {
			args = append(args, f)
		}
	}
	return args, attrs
}

// lineParser reads one line's fields, keeping the first error; the
// attributes it reads are removed so that unknown ones are left over.
type lineParser struct {
	args  []string
	attrs map[string]string
	err   error
}

func (p *lineParser) setErr(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

func (p *lineParser) id(i int) int64 {
	v, err := strconv.ParseInt(p.args[i], 10, 64)
	if err != nil {
		p.setErr("%q is not an id", p.args[i])
	}
	return v
}

func (p *lineParser) int(i int) int {
	v, err := strconv.Atoi(p.args[i])
	if err != nil {
		p.setErr("%q is not a number of connects", p.args[i])
	}
	return v
}

func (p *lineParser) opt(i int) string {
	if i < len(p.args) {
		return p.args[i]
	}
	return ""
}

func (p *lineParser) str(name string) string {
	v := p.attrs[name]
	delete(p.attrs, name)
	return v
}

func (p *lineParser) attrID(name string, required bool) int64 {
	v, ok := p.attrs[name]
	delete(p.attrs, name)
	if !ok {
		if required {
			p.setErr("%s= missing", name)
		}
		return 0
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		p.setErr("%s=%s: not an id", name, v)
	}
	return id
}

// age reads NAME=DURATION, a Go duration before the market's clock; absent
// is NULL.
func (p *lineParser) age(name string) *time.Duration {
	v, ok := p.attrs[name]
	delete(p.attrs, name)
	if !ok {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.setErr("%s=%s: not a duration (Go syntax: 2h, 30m, 90s)", name, v)
	}
	return &d
}

// account reads account=, defaulting to the freelancer of the proposal.
func (p *lineParser) account(proposal int64, freelancers map[int64]int64) int64 {
	if _, ok := p.attrs["account"]; ok {
		return p.attrID("account", true)
	}
	a, ok := freelancers[proposal]
	if !ok {
		p.setErr("no account= and no proposal %d line above to take its freelancer from", proposal)
	}
	return a
}

func isKey(s string) bool {
	id, component, ok := strings.Cut(s, "/")
	_, err := strconv.ParseInt(id, 10, 64)
	return ok && err == nil && component != ""
}

func isAmountAt(s string) bool {
	amount, account, ok := strings.Cut(s, "@")
	_, err1 := strconv.Atoi(amount)
	_, err2 := strconv.ParseInt(account, 10, 64)
	return ok && err1 == nil && err2 == nil
}

// discrepancyText checks a want discrepancy line and returns it in the form
// discrepancyOf writes.
func discrepancyText(args []string) (string, error) {
	const usage = "want discrepancy PROPOSAL/COMPONENT KIND [rule=RULE] [to=ACCOUNT]"
	if len(args) < 2 || !isKey(args[0]) || strings.Contains(args[1], "=") {
		return "", fmt.Errorf("usage: %s", usage)
	}
	out := args[0] + " " + args[1]
	rest := args[2:]
	for _, name := range []string{"rule", "to"} {
		if len(rest) > 0 && strings.HasPrefix(rest[0], name+"=") && len(rest[0]) > len(name)+1 {
			out += " " + rest[0]
			rest = rest[1:]
		}
	}
	if len(rest) > 0 {
		return "", fmt.Errorf("%q: usage: %s", rest[0], usage)
	}
	return out, nil
}

func discrepancyOf(d reconcile.Discrepancy) string {
	text := fmt.Sprintf("%d/%s %s", d.ProposalID, d.Component, d.State)
	if d.Rule != "" {
		text += " rule=" + string(d.Rule)
	}
	if d.OtherAccount() != 0 {
		text += fmt.Sprintf(" to=%d", d.OtherAccount())
	}
	return text
}

// setPolicy sets one of the policy's settings by its JSON name, so that a
// new setting needs no change here: true/false, a Go duration, or a
// comma-separated list.
func setPolicy(p *reconcile.Policy, name, value string) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	old, ok := fields[name]
	if !ok {
		names := make([]string, 0, len(fields))
		for k := range fields {
			names = append(names, k)
		}
		sort.Strings(names)
		return fmt.Errorf("no such setting; the settings are %s", strings.Join(names, ", "))
	}
	var v any
	switch old[0] {
	case 't', 'f':
		if v, err = strconv.ParseBool(value); err != nil {
			return fmt.Errorf("%q: want true or false", value)
		}
	case '"':
		if _, err := time.ParseDuration(value); err != nil {
			return fmt.Errorf("%q: want a Go duration (15m, 0s)", value)
		}
		v = value
	case '[', 'n':
		list := []string{}
		if value != "" {
			list = strings.Split(value, ",")
		}
		v = list
	default:
		return fmt.Errorf("setting of unknown type %s", old)
	}
	if fields[name], err = json.Marshal(v); err != nil {
		return err
	}
	if b, err = json.Marshal(fields); err != nil {
		return err
	}
	return json.Unmarshal(b, p)
}

// diffWants lists, one line each, what the file expected and the run did
// not leave, and what the run left that the file does not expect.
func (c *policyCase) diffWants(what string, wants map[string]expected, got map[string]string) []string {
	var out []string
	for k, w := range wants {
		if g, ok := got[k]; !ok {
			out = append(out, fmt.Sprintf("%s: want %s %s %s; got none", c.at(w.line), what, k, w.value))
		} else if g != w.value {
			out = append(out, fmt.Sprintf("%s: want %s %s %s; got %s", c.at(w.line), what, k, w.value, g))
		}
	}
	for k, g := range got {
		if _, ok := wants[k]; !ok {
			out = append(out, fmt.Sprintf("%s: got %s %s %s, which the file does not expect", c.file, what, k, g))
		}
	}
	sort.Strings(out)
	return out
}

// expects says whether the file expects a discrepancy of the kind.
func (c *policyCase) expects(kind reconcile.State) bool {
	for d := range c.discrepancies {
		if strings.Fields(d)[1] == string(kind) {
			return true
		}
	}
	return false
}

// differences lists, one line each naming the file's line, how what the run
// left differs from what the file expects.
func (c *policyCase) differences(m *market, res *reconcile.Result) []string {
	diffs := c.diffWants("ledger", c.ledger, m.refunds())
	gotRules := map[string]string{}
	for _, f := range issuedOf(m.t, res) {
		gotRules[fmt.Sprintf("%d/%s", f.ProposalID, f.Component)] = string(f.Rule)
	}
	diffs = append(diffs, c.diffWants("rule", c.rules, gotRules)...)
	gotDisc := map[string]int{}
	for _, d := range discrepanciesOf(m.t, res.Plan) {
		gotDisc[discrepancyOf(d)]++
	}
	var discDiffs []string
	for d, line := range c.discrepancies {
		if gotDisc[d] == 0 {
			discDiffs = append(discDiffs, fmt.Sprintf("%s: want discrepancy %s; the run found none", c.at(line), d))
		}
	}
	for d, n := range gotDisc {
		if _, ok := c.discrepancies[d]; !ok {
			discDiffs = append(discDiffs, fmt.Sprintf("%s: got discrepancy %s, which the file does not expect", c.file, d))
		} else if n > 1 {
			discDiffs = append(discDiffs, fmt.Sprintf("%s: got discrepancy %s %d times; want it once", c.at(c.discrepancies[d]), d, n))
		}
	}
	sort.Strings(discDiffs)
	diffs = append(diffs, discDiffs...)
	if got := strconv.FormatInt(res.Plan.Totals().Pending, 10); got != c.pending.value {
		where := c.at(c.pending.line)
		if c.pending.line == 0 {
			where = c.file + " (no want pending line)"
		}
		diffs = append(diffs, fmt.Sprintf("%s: want pending %s; got %s", where, c.pending.value, got))
	}
	return diffs
}
