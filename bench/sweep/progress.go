package sweep

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Progress follows a sweep: Run calls Start once, CellStart and CellDone
// around each cell, and Finish at the end.
type Progress interface {
	Start(cells int, maxTime time.Duration)
	CellStart(i int, c Cell)
	CellDone(i int, r Result)
	Finish()
}

type nopProgress struct{}

func (nopProgress) Start(int, time.Duration) {}
func (nopProgress) CellStart(int, Cell)      {}
func (nopProgress) CellDone(int, Result)     {}
func (nopProgress) Finish()                  {}

// NewProgress reports to w: with width > 0 (a terminal that wide) a bar
// on the last line, redrawn a few times a second, with one line per
// finished cell scrolling above it; with width 0 only the lines.
func NewProgress(w io.Writer, width int) Progress {
	return &progress{w: w, width: width, now: time.Now}
}

type progress struct {
	w     io.Writer
	width int
	now   func() time.Time

	mu        sync.Mutex
	total     int
	done      int
	maxTime   time.Duration
	started   time.Time
	cellStart time.Time
	label     string
	stop      chan struct{}
	stopped   sync.WaitGroup
}

// redraw is how often the bar moves while a cell runs.
const redraw = 250 * time.Millisecond

func (p *progress) Start(cells int, maxTime time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.maxTime, p.started = cells, maxTime, p.now()
	if p.width <= 0 {
		return
	}
	p.stop = make(chan struct{})
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		t := time.NewTicker(redraw)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				p.drawLocked()
				p.mu.Unlock()
			}
		}
	}()
}

func (p *progress) CellStart(i int, c Cell) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cellStart, p.label = p.now(), c.String()
	if p.width > 0 {
		p.drawLocked()
	}
}

func (p *progress) CellDone(i int, r Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.cellStart = i+1, time.Time{}
	hold := "-"
	if r.HoldMeanms >= 0 {
		hold = fmt.Sprintf("%.2f ms", r.HoldMeanms)
	}
	line := fmt.Sprintf("[%d/%d] %-40s %9.0f req/s  p99 %8.2f ms  hold %s  rss %s  spilled %s  err %d",
		i+1, p.total, r.Cell.String(), r.RPS, r.P99ms, hold, fmtBytes(r.PeakRSSBytes), fmtBytes(r.SpilledBytes), r.Errors)
	if p.width > 0 {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintln(p.w, line)
	if p.width > 0 {
		p.drawLocked()
	}
}

func (p *progress) Finish() {
	if p.stop != nil {
		close(p.stop)
		p.stopped.Wait()
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// drawLocked redraws the bar line in place.
func (p *progress) drawLocked() {
	now := p.now()
	elapsed := now.Sub(p.started)
	frac, left := float64(p.done), time.Duration(-1)
	if p.done > 0 {
		per := elapsed / time.Duration(p.done)
		if p.done < p.total && !p.cellStart.IsZero() {
			frac += min(float64(now.Sub(p.cellStart))/float64(per), 0.99)
		}
		left = per * time.Duration(p.total-p.done)
		if p.maxTime > 0 {
			left = min(left, max(p.maxTime-elapsed, 0))
		}
	}
	label := p.label
	if p.done >= p.total {
		label = "done"
	}
	fmt.Fprint(p.w, "\r"+renderBar(frac/float64(max(p.total, 1)), p.done, p.total, elapsed, left, label, p.width))
}

// renderBar is one bar line, at most width runes:
//
//	[#######.............] 12/36  0:42 elapsed  ~1:10 left  spillway 8x4k | 8m fast c8
func renderBar(frac float64, done, total int, elapsed, left time.Duration, label string, width int) string {
	const barWidth = 24
	frac = min(max(frac, 0), 1)
	n := int(frac * barWidth)
	eta := "?"
	if left >= 0 {
		eta = clock(left)
	}
	s := fmt.Sprintf("[%s%s] %d/%d  %s elapsed  ~%s left  %s",
		strings.Repeat("#", n), strings.Repeat(".", barWidth-n), done, total, clock(elapsed), eta, label)
	if utf8.RuneCountInString(s) > width-1 { // never wrap: the next redraw could not overwrite it
		r := []rune(s)
		s = string(r[:max(width-1, 0)])
	}
	return s + "\x1b[K"
}

// clock formats d as m:ss.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
