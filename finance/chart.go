package finance

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/connects/connects-reconciler/reconcile"
)

// The chart's series: the rules in precedence order, then refunds no rule
// entitles now.
var chartSeries = []struct {
	rule  reconcile.Rule
	label string
	color string
}{
	{reconcile.RuleTOSRemoved, "tos_removed", "#d95f02"},
	{reconcile.RuleClosedWithoutHire, "closed_without_hire", "#1b9e77"},
	{reconcile.RuleBoostOutbid, "boost_outbid", "#7570b3"},
	{"", "no rule now (see discrepancies)", "#9a9a9a"},
}

// chart is an SVG bar chart drawn here, in user units of its viewBox.
type chart struct {
	Width, Height int
	Bars          []bar
	YTicks        []tick
	XTicks        []tick
	Legend        []legendItem
	PlotLeft      int
	PlotRight     int
	PlotTop       int
	PlotBottom    int
	Empty         bool
}

type bar struct {
	X, Y, W, H string
	Color      string
	Title      string
}

type tick struct {
	Pos   string
	Label string
}

type legendItem struct {
	X     int
	Color string
	Label string
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// drawChart stacks, per UTC day of the period, the number of refunds by rule.
func drawChart(p Period, s *summary) chart {
	c := chart{Width: 1160, Height: 360, PlotLeft: 64, PlotRight: 1144, PlotTop: 48, PlotBottom: 320}
	type dayAmounts map[reconcile.Rule]*Amount
	perDay := map[int64]dayAmounts{}
	for k, a := range s.groups {
		d, ok := perDay[k.Day]
		if !ok {
			d = dayAmounts{}
			perDay[k.Day] = d
		}
		get(d, k.Rule).plus(*a)
	}
	var days []int64
	for d := p.From.Truncate(24 * time.Hour); d.Before(p.To); d = d.Add(24 * time.Hour) {
		days = append(days, unixDay(d))
	}
	var most int64
	for _, d := range perDay {
		var n int64
		for _, a := range d {
			n += a.Refunds
		}
		most = max(most, n)
	}
	c.Empty = most == 0
	top, step := niceScale(most)
	plotH := float64(c.PlotBottom - c.PlotTop)
	for v := int64(0); v <= top; v += step {
		y := float64(c.PlotBottom) - float64(v)/float64(top)*plotH
		c.YTicks = append(c.YTicks, tick{Pos: f1(y), Label: reconcile.Thousands(strconv.FormatInt(v, 10))})
	}
	slot := float64(c.PlotRight-c.PlotLeft) / float64(max(1, len(days)))
	barW := math.Max(1, slot*0.72)
	labelEvery := int(math.Ceil(float64(len(days)) / 16))
	for i, dayNum := range days {
		day := dayString(dayNum)
		x := float64(c.PlotLeft) + float64(i)*slot + (slot-barW)/2
		if i%labelEvery == 0 {
			c.XTicks = append(c.XTicks, tick{Pos: f1(x + barW/2), Label: day[5:]})
		}
		base := float64(c.PlotBottom)
		for _, series := range chartSeries {
			a, ok := perDay[dayNum][series.rule]
			if !ok || a.Refunds == 0 {
				continue
			}
			h := float64(a.Refunds) / float64(top) * plotH
			base -= h
			c.Bars = append(c.Bars, bar{X: f1(x), Y: f1(base), W: f1(barW), H: f1(h), Color: series.color,
				Title: fmt.Sprintf("%s %s: %d refunds, %d Connects, $%s", day, series.label, a.Refunds, a.Connects, a.Value)})
		}
	}
	lx := c.PlotLeft
	for _, series := range chartSeries {
		c.Legend = append(c.Legend, legendItem{X: lx, Color: series.color, Label: series.label})
		lx += 28 + 8*len(series.label)
	}
	return c
}

// niceScale returns an axis top of at least most, and a step giving about
// five gridlines on round numbers.
func niceScale(most int64) (top, step int64) {
	if most <= 0 {
		return 5, 1
	}
	raw := float64(most) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = int64(math.Max(1, math.Ceil(m*mag)))
			break
		}
	}
	top = (most + step - 1) / step * step
	return top, step
}
