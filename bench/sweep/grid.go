package sweep

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"spillway/proxy/config"
)

// BufferConfig is one point of the proxy buffer grid, in nginx's names.
// Zero sizes mean "not set": the proxy's default applies.
type BufferConfig struct {
	Buffering  bool  `json:"proxy_buffering"`
	N          int   `json:"proxy_buffers_n,omitempty"`    // proxy_buffers number
	Size       int64 `json:"proxy_buffers_size,omitempty"` // proxy_buffers size
	BufferSize int64 `json:"proxy_buffer_size,omitempty"`
	Busy       int64 `json:"proxy_busy_buffers_size,omitempty"`
	MaxTemp    int64 `json:"proxy_max_temp_file_size"` // -1: not set (1024m)
	// SpillGrace is proxy_spill_grace (spillway's own, default 50ms) as
	// written, "" for not set. nginx has no such directive: it spills at
	// the first stall, like "0".
	SpillGrace string `json:"proxy_spill_grace,omitempty"`
}

// Name is the short label used in tables and plots: "8x4k", "8x4k tmp=0",
// "off".
func (c BufferConfig) Name() string {
	var b strings.Builder
	if !c.Buffering {
		b.WriteString("off")
	} else {
		fmt.Fprintf(&b, "%dx%s", c.N, FormatSize(c.Size))
	}
	if c.BufferSize > 0 {
		b.WriteString(" bs=" + FormatSize(c.BufferSize))
	}
	if c.Buffering && c.Busy > 0 {
		b.WriteString(" busy=" + FormatSize(c.Busy))
	}
	if c.Buffering && c.MaxTemp >= 0 {
		b.WriteString(" tmp=" + FormatSize(c.MaxTemp))
	}
	if c.Buffering && c.SpillGrace != "" {
		b.WriteString(" grace=" + c.SpillGrace)
	}
	return b.String()
}

// Footprint is the memory one request may hold in proxy buffers under this
// configuration: what "smallest configuration" means in the recommendation.
func (c BufferConfig) Footprint() int64 {
	bs := c.BufferSize
	if bs == 0 {
		bs = 4 << 10
	}
	if !c.Buffering {
		return bs
	}
	return int64(c.N)*c.Size + bs
}

// ClientSpec is how a load-generator client reads responses: fast, slow at
// a rate, or a mix of those over the cell's connections.
type ClientSpec struct {
	Name string    `json:"name"`           // "fast", "slow:1m/s", "mix:fast=80,slow:8m/s=20"
	Rate int64     `json:"rate,omitempty"` // bytes per second; 0 reads as fast as it can
	Mix  []MixPart `json:"mix,omitempty"`  // a mixed population; Rate is unused then
}

// MixPart is one population of a mix: Percent of the connections read like
// Client.
type MixPart struct {
	Client  ClientSpec `json:"client"`
	Percent int        `json:"percent"`
}

// Slow reports whether the client (or any part of a mix) is throttled.
func (c ClientSpec) Slow() bool {
	for _, p := range c.Mix {
		if p.Client.Slow() {
			return true
		}
	}
	return c.Rate > 0
}

// ForConn is the client that connection i of n runs: c itself, or for a
// mix the part whose share of the n connections i falls in. Each part gets
// its percentage of n rounded by largest remainder, and at least one
// connection when n allows it, so that "slow=20" with 2 connections still
// has a slow one.
func (c ClientSpec) ForConn(i, n int) ClientSpec {
	if len(c.Mix) == 0 {
		return c
	}
	for k, cnt := range c.mixCounts(n) {
		if i < cnt {
			return c.Mix[k].Client
		}
		i -= cnt
	}
	return c.Mix[len(c.Mix)-1].Client
}

// mixCounts splits n connections among the parts of a mix.
func (c ClientSpec) mixCounts(n int) []int {
	counts := make([]int, len(c.Mix))
	rem := make([]int, len(c.Mix)) // remainders, in hundredths of a connection
	left := n
	for k, p := range c.Mix {
		counts[k], rem[k] = n*p.Percent/100, n*p.Percent%100
		left -= counts[k]
	}
	for ; left > 0; left-- { // largest remainder first, the earlier part on ties
		best := 0
		for k := range rem {
			if rem[k] > rem[best] {
				best = k
			}
		}
		counts[best]++
		rem[best] = -1
	}
	for k := range counts { // a part with no connection takes one from the largest
		if counts[k] > 0 || c.Mix[k].Percent == 0 {
			continue
		}
		big := 0
		for j := range counts {
			if counts[j] > counts[big] {
				big = j
			}
		}
		if counts[big] > 1 {
			counts[big]--
			counts[k]++
		}
	}
	return counts
}

// speed orders clients for tables and plots: fast first, then slow ones
// from the fastest rate down, then mixes.
func (c ClientSpec) speed() (group int, rate int64) {
	switch {
	case len(c.Mix) > 0:
		return 2, 0
	case c.Rate == 0:
		return 0, 0
	}
	return 1, -c.Rate
}

func clientLess(a, b ClientSpec) bool {
	ga, ra := a.speed()
	gb, rb := b.speed()
	if ga != gb {
		return ga < gb
	}
	if ra != rb {
		return ra < rb
	}
	return a.Name < b.Name
}

// ParseClient parses "fast", "slow" (1m/s), "slow:RATE" with RATE an nginx
// size optionally followed by "/s" ("slow:512k/s"), or a mixed population
// "mix:SPEC=PERCENT,SPEC=PERCENT..." ("mix:fast=80,slow:8m=20": 80% of the
// connections read fast, 20% at 8m/s; the percentages add up to 100).
func ParseClient(s string) (ClientSpec, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "fast":
		return ClientSpec{Name: "fast"}, nil
	case s == "slow":
		return ClientSpec{Name: "slow:1m/s", Rate: 1 << 20}, nil
	case strings.HasPrefix(s, "slow:"):
		r, err := config.ParseSize(strings.TrimSuffix(strings.TrimPrefix(s, "slow:"), "/s"))
		if err != nil || r <= 0 {
			return ClientSpec{}, fmt.Errorf("client %q: want fast, slow:RATE like slow:1m/s, or mix:fast=80,slow:1m=20", s)
		}
		return ClientSpec{Name: "slow:" + FormatSize(r) + "/s", Rate: r}, nil
	case strings.HasPrefix(s, "mix:"):
		return parseMix(s)
	}
	return ClientSpec{}, fmt.Errorf("client %q: want fast, slow:RATE like slow:1m/s, or mix:fast=80,slow:1m=20", s)
}

func parseMix(s string) (ClientSpec, error) {
	c := ClientSpec{}
	var names []string
	total := 0
	for _, part := range strings.Split(strings.TrimPrefix(s, "mix:"), ",") {
		spec, pct, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(pct), "%"))
		if !ok || err != nil || n < 0 || n > 100 {
			return ClientSpec{}, fmt.Errorf("client %q: want mix:SPEC=PERCENT,... like mix:fast=80,slow:8m=20", s)
		}
		pc, err := ParseClient(spec)
		if err != nil {
			return ClientSpec{}, err
		}
		if len(pc.Mix) > 0 {
			return ClientSpec{}, fmt.Errorf("client %q: a mix cannot hold a mix", s)
		}
		c.Mix = append(c.Mix, MixPart{Client: pc, Percent: n})
		names = append(names, pc.Name+"="+strconv.Itoa(n))
		total += n
	}
	if total != 100 || len(c.Mix) < 2 {
		return ClientSpec{}, fmt.Errorf("client %q: want two or more parts whose percentages add up to 100 (got %d)", s, total)
	}
	c.Name = "mix:" + strings.Join(names, ",")
	return c, nil
}

// JoinClientFlags undoes the comma split of a string-slice flag for mixes:
// "mix:fast=80", "slow:8m=20" (as pflag splits "mix:fast=80,slow:8m=20")
// become one value again. A value with "=" continues the mix before it.
func JoinClientFlags(vals []string) []string {
	var out []string
	for _, v := range vals {
		if n := len(out); n > 0 && strings.HasPrefix(out[n-1], "mix:") && !strings.HasPrefix(v, "mix:") && strings.Contains(v, "=") {
			out[n-1] += "," + v
			continue
		}
		out = append(out, v)
	}
	return out
}

// SizeDist is a response-size distribution (--sizes-file): each request
// picks one of Sizes with probability proportional to its weight.
type SizeDist struct {
	Sizes   []int64   `json:"sizes"`
	Weights []float64 `json:"weights"`
}

// ParseSizeDist reads lines "SIZE WEIGHT" ("4k 70"); blank lines and lines
// starting with # are skipped.
func ParseSizeDist(r io.Reader) (*SizeDist, error) {
	d := &SizeDist{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		f := strings.Fields(t)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"SIZE WEIGHT\" like \"4k 70\"", line)
		}
		size, err := config.ParseSize(f[0])
		if err != nil || size <= 0 {
			return nil, fmt.Errorf("line %d: size %q: want a positive nginx size like 4k", line, f[0])
		}
		w, err := strconv.ParseFloat(f[1], 64)
		if err != nil || w < 0 || math.IsInf(w, 0) || math.IsNaN(w) {
			return nil, fmt.Errorf("line %d: weight %q: want a number >= 0", line, f[1])
		}
		d.Sizes = append(d.Sizes, size)
		d.Weights = append(d.Weights, w)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if d.total() <= 0 {
		return nil, errors.New("no size with a weight above 0")
	}
	return d, nil
}

func (d *SizeDist) total() float64 {
	var t float64
	for _, w := range d.Weights {
		t += w
	}
	return t
}

// Name is the distribution in the table's size column: "4k:70,256k:25,8m:5".
func (d *SizeDist) Name() string {
	parts := make([]string, len(d.Sizes))
	for i, s := range d.Sizes {
		parts[i] = FormatSize(s) + ":" + strconv.FormatFloat(d.Weights[i], 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// Pick draws a size.
func (d *SizeDist) Pick(rng *rand.Rand) int64 {
	x := rng.Float64() * d.total()
	for i, w := range d.Weights {
		if x < w {
			return d.Sizes[i]
		}
		x -= w
	}
	return d.Sizes[len(d.Sizes)-1]
}

// Max is the largest size.
func (d *SizeDist) Max() int64 { return slices.Max(d.Sizes) }

// Mean is the expected size.
func (d *SizeDist) Mean() float64 {
	var m float64
	for i, s := range d.Sizes {
		m += float64(s) * d.Weights[i]
	}
	return m / d.total()
}

// ParseBuffers parses proxy_buffers written "NxSIZE" ("8x4k") or "N SIZE".
func ParseBuffers(s string) (n int, size int64, err error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "x ")
	if i <= 0 {
		return 0, 0, fmt.Errorf("buffers %q: want NxSIZE like 8x4k", s)
	}
	n, err = strconv.Atoi(s[:i])
	if err != nil || n < 2 {
		return 0, 0, fmt.Errorf("buffers %q: want a number of at least 2 before x", s)
	}
	size, err = config.ParseSize(strings.TrimSpace(s[i+1:]))
	if err != nil || size <= 0 {
		return 0, 0, fmt.Errorf("buffers %q: %v", s, err)
	}
	return n, size, nil
}

// ParseSizes parses a list of nginx sizes; "" or "default" means nil.
func ParseSizes(list []string) ([]int64, error) {
	var out []int64
	for _, s := range list {
		if s == "" || s == "default" {
			out = append(out, 0)
			continue
		}
		n, err := config.ParseSize(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// FormatSize writes n in the largest exact nginx unit: 4096 → "4k".
func FormatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "g"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "m"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}

// GridSpec is the grid as given on the command line, before expansion.
type GridSpec struct {
	Buffers     []string // "8x4k"
	BufferSizes []string // proxy_buffer_size values; empty: default
	Busy        []string // proxy_busy_buffers_size values; empty: default
	MaxTemp     []string // proxy_max_temp_file_size values; empty: default
	SpillGrace  []string // proxy_spill_grace values; empty: default
	Buffering   []string // "on", "off"
}

// Configs expands the grid into buffer configurations. With buffering off
// only proxy_buffer_size matters, so "off" yields one configuration per
// buffer size. Combinations the proxy would reject (busy buffers larger
// than all buffers minus one) are dropped and reported in skipped.
func (g GridSpec) Configs() (out []BufferConfig, skipped []string, err error) {
	bsizes, err := ParseSizes(orDefault(g.BufferSizes))
	if err != nil {
		return nil, nil, fmt.Errorf("--buffer-size: %w", err)
	}
	busies, err := ParseSizes(orDefault(g.Busy))
	if err != nil {
		return nil, nil, fmt.Errorf("--busy: %w", err)
	}
	temps := []int64{-1}
	if len(g.MaxTemp) > 0 {
		temps = temps[:0]
		for _, s := range g.MaxTemp {
			n, err := config.ParseSize(strings.TrimSpace(s))
			if err != nil {
				return nil, nil, fmt.Errorf("--max-temp: %w", err)
			}
			temps = append(temps, n)
		}
	}
	graces := []string{""}
	if len(g.SpillGrace) > 0 {
		graces = graces[:0]
		for _, s := range g.SpillGrace {
			s = strings.TrimSpace(s)
			if d, err := config.ParseDuration(s); err != nil || d < 0 {
				return nil, nil, fmt.Errorf("--spill-grace %q: want a duration like 50ms or 0", s)
			}
			graces = append(graces, s)
		}
	}
	buffering := g.Buffering
	if len(buffering) == 0 {
		buffering = []string{"on"}
	}
	for _, b := range buffering {
		switch strings.TrimSpace(b) {
		case "off":
			for _, bs := range bsizes {
				out = append(out, BufferConfig{BufferSize: bs, MaxTemp: -1})
			}
		case "on":
			for _, spec := range g.Buffers {
				n, size, err := ParseBuffers(spec)
				if err != nil {
					return nil, nil, err
				}
				for _, bs := range bsizes {
					for _, busy := range busies {
						for _, tmp := range temps {
							for _, grace := range graces {
								c := BufferConfig{Buffering: true, N: n, Size: size, BufferSize: bs, Busy: busy, MaxTemp: tmp, SpillGrace: grace}
								if why := c.invalid(); why != "" {
									skipped = append(skipped, c.Name()+": "+why)
									continue
								}
								out = append(out, c)
							}
						}
					}
				}
			}
		default:
			return nil, nil, fmt.Errorf("--buffering %q: want on or off", b)
		}
	}
	if len(out) == 0 {
		return nil, skipped, fmt.Errorf("the buffer grid is empty")
	}
	return out, skipped, nil
}

// invalid mirrors the proxy's proxy_busy_buffers_size check so that a grid
// with one bad combination still runs the others.
func (c BufferConfig) invalid() string {
	bs := c.BufferSize
	if bs == 0 {
		bs = 4 << 10
	}
	busy := c.Busy
	if busy == 0 {
		busy = 2 * max(bs, c.Size)
	}
	if busy < max(bs, c.Size) {
		return "proxy_busy_buffers_size below one buffer"
	}
	if busy > int64(c.N-1)*c.Size {
		return fmt.Sprintf("proxy_busy_buffers_size %s > (%d-1) × %s", FormatSize(busy), c.N, FormatSize(c.Size))
	}
	return ""
}

func orDefault(l []string) []string {
	if len(l) == 0 {
		return []string{"default"}
	}
	return l
}

// Workload is the load side of a cell.
type Workload struct {
	// Size is the response size asked for; 0 with Dist, or with an
	// external upstream whose URL has no {size}: whatever it serves.
	Size        int64      `json:"size"`
	Dist        *SizeDist  `json:"size_dist,omitempty"`
	Client      ClientSpec `json:"client"`
	Concurrency int        `json:"concurrency"`
}

// SizeLabel is the size column: "64k", a distribution's name, or "as
// served" for an external upstream's own responses.
func (w Workload) SizeLabel() string {
	switch {
	case w.Dist != nil:
		return w.Dist.Name()
	case w.Size == 0:
		return "as served"
	}
	return FormatSize(w.Size)
}

// meanSize orders workloads by size.
func (w Workload) meanSize() float64 {
	if w.Dist != nil {
		return w.Dist.Mean()
	}
	return float64(w.Size)
}

// Key names the workload in recommendations: "64k fast c16".
func (w Workload) Key() string {
	return fmt.Sprintf("%s %s c%d", w.SizeLabel(), w.Client.Name, w.Concurrency)
}

// workloadLess orders workloads by size, then client speed, then
// concurrency.
func workloadLess(a, b Workload) bool {
	if a.meanSize() != b.meanSize() {
		return a.meanSize() < b.meanSize()
	}
	if a.Client.Name != b.Client.Name {
		return clientLess(a.Client, b.Client)
	}
	return a.Concurrency < b.Concurrency
}

// Cell is one measurement: a target, a buffer configuration and a workload.
type Cell struct {
	Target string       `json:"target"` // "spillway", "nginx" or "external"
	Config BufferConfig `json:"config"`
	Load   Workload     `json:"load"`
}

// cellOverhead is the time a cell costs beyond its duration: starting and
// closing the proxy process, and the in-flight requests allowed to finish.
const cellOverhead = 300 * time.Millisecond
