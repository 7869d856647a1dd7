package report

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// chart is the activity chart, laid out in SVG user units.
type chart struct {
	Width, Height int
	Bars          []rect
	Grid          []gridLine
	Labels        []label
	Legend        []legendItem
	Bucket        string
	Empty         bool
}

type rect struct {
	X, Y, W, H float64
	Color      string
	Title      string
}

type gridLine struct {
	Y     float64
	Label string
}

type label struct {
	X    float64
	Text string
}

type legendItem struct {
	X     float64
	Color string
	Name  string
	Count int
}

// palette colours workloads in order of volume; colour-blind safe (Okabe-Ito).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"}

// bucketSizes are the bar widths tried, smallest first, until at most maxBars bars fit.
var bucketSizes = []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}

const maxBars = 60

// activity counts records per workload in time buckets, one portable GROUP BY query
// per bucket (date arithmetic differs on every database; counting does not).
func activity(ctx context.Context, h sink.Handle, from, to time.Time) (chart, error) {
	size := bucketSizes[len(bucketSizes)-1]
	for _, s := range bucketSizes {
		if int(to.Sub(from)/s)+1 <= maxBars {
			size = s
			break
		}
	}
	start := from.Truncate(size)
	type bucket struct {
		at     time.Time
		counts map[string]int
	}
	var buckets []bucket
	totals := map[string]int{}
	q := h.Dialect.Rebind(`SELECT workload, COUNT(*) FROM audit_record WHERE creation_time >= ? AND creation_time < ? GROUP BY workload`)
	for t := start; t.Before(to); t = t.Add(size) {
		lo, hi := maxTime(t, from), minTime(t.Add(size), to)
		cs, _, err := counts(ctx, h, q, h.Dialect.Time(lo), h.Dialect.Time(hi))
		if err != nil {
			return chart{}, err
		}
		b := bucket{at: t, counts: map[string]int{}}
		for _, c := range cs {
			b.counts[c.Key] = c.Count
			totals[c.Key] += c.Count
		}
		buckets = append(buckets, b)
	}
	var workloads []string
	for w := range totals {
		workloads = append(workloads, w)
	}
	slices.SortFunc(workloads, func(a, b string) int {
		if totals[a] != totals[b] {
			return totals[b] - totals[a]
		}
		if a < b {
			return -1
		}
		return 1
	})
	color := map[string]string{}
	for i, w := range workloads {
		color[w] = palette[min(i, len(palette)-1)]
	}
	c := chart{Width: 1160, Height: 330, Bucket: humanDuration(size)}
	const left, right, top, bottom = 56.0, 10.0, 36.0, 40.0
	plotW, plotH := float64(c.Width)-left-right, float64(c.Height)-top-bottom
	peak := 0
	for _, b := range buckets {
		sum := 0
		for _, n := range b.counts {
			sum += n
		}
		peak = max(peak, sum)
	}
	if peak == 0 {
		c.Empty = true
		return c, nil
	}
	scaleMax := niceCeil(peak)
	for i := 0; i <= 4; i++ {
		v := scaleMax * i / 4
		c.Grid = append(c.Grid, gridLine{Y: top + plotH - plotH*float64(v)/float64(scaleMax), Label: groupDigits(v)})
	}
	slot := plotW / float64(len(buckets))
	every := max(1, len(buckets)/8)
	for i, b := range buckets {
		x := left + float64(i)*slot
		y := top + plotH
		for _, w := range workloads {
			n := b.counts[w]
			if n == 0 {
				continue
			}
			h := plotH * float64(n) / float64(scaleMax)
			y -= h
			c.Bars = append(c.Bars, rect{X: x + slot*0.1, Y: y, W: slot * 0.8, H: h, Color: color[w],
				Title: fmt.Sprintf("%s %s: %s records", b.at.Format("2006-01-02 15:04"), w, groupDigits(n))})
		}
		if i%every == 0 {
			layout := "Jan 2 15:04"
			if size >= 24*time.Hour {
				layout = "Jan 2"
			}
			c.Labels = append(c.Labels, label{X: x + slot/2, Text: b.at.Format(layout)})
		}
	}
	x := left
	for _, w := range workloads {
		c.Legend = append(c.Legend, legendItem{X: x, Color: color[w], Name: w, Count: totals[w]})
		x += 40 + 7.5*float64(len(w)+len(groupDigits(totals[w])))
	}
	return c, nil
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (a readable axis maximum).
func niceCeil(n int) int {
	p := 1
	for p*10 <= n {
		p *= 10
	}
	for _, m := range []int{1, 2, 5, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}

func humanDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0 && d >= 24*time.Hour:
		if d == 24*time.Hour {
			return "1 day"
		}
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d == time.Hour:
		return "1 hour"
	}
	return fmt.Sprintf("%d hours", d/time.Hour)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
