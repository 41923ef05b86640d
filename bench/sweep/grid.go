// Package sweep runs `spillway bench`: it sweeps a grid of proxy buffer
// configurations × response sizes × client speeds × concurrency against an
// in-process spillway (or nginx, or an external proxy), with a built-in
// origin that measures how long each request held its upstream connection,
// and writes a table, CSV, JSON and plots.
//
// It lives apart from package bench because it needs spillway/proxy, and
// bench must not import the proxy.
package sweep

import (
	"fmt"
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

// ClientSpec is how a load-generator client reads responses.
type ClientSpec struct {
	Name string `json:"name"`           // "fast" or "slow:1m/s"
	Rate int64  `json:"rate,omitempty"` // bytes per second; 0 reads as fast as it can
}

// Slow reports whether the client is throttled.
func (c ClientSpec) Slow() bool { return c.Rate > 0 }

// ParseClient parses "fast", "slow" (1m/s) or "slow:RATE" with RATE an nginx
// size, optionally followed by "/s": "slow:512k/s".
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
			return ClientSpec{}, fmt.Errorf("client %q: want fast or slow:RATE like slow:1m/s", s)
		}
		return ClientSpec{Name: "slow:" + FormatSize(r) + "/s", Rate: r}, nil
	}
	return ClientSpec{}, fmt.Errorf("client %q: want fast or slow:RATE like slow:1m/s", s)
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
							c := BufferConfig{Buffering: true, N: n, Size: size, BufferSize: bs, Busy: busy, MaxTemp: tmp}
							if why := c.invalid(); why != "" {
								skipped = append(skipped, c.Name()+": "+why)
								continue
							}
							out = append(out, c)
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
	Size        int64      `json:"size"`
	Client      ClientSpec `json:"client"`
	Concurrency int        `json:"concurrency"`
}

// Key names the workload in recommendations: "64k fast c16".
func (w Workload) Key() string {
	return fmt.Sprintf("%s %s c%d", FormatSize(w.Size), w.Client.Name, w.Concurrency)
}

// Cell is one measurement: a target, a buffer configuration and a workload.
type Cell struct {
	Target string       `json:"target"` // "spillway", "nginx" or "external"
	Config BufferConfig `json:"config"`
	Load   Workload     `json:"load"`
}

// cellOverhead is the time a cell costs beyond its duration: starting and
// closing the proxy, and the in-flight requests allowed to finish.
const cellOverhead = 150 * time.Millisecond
