package sweep

import (
	"fmt"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// WritePlots writes, as SVG and PNG, for the in-process (or external)
// target and the first concurrency:
//   - throughput: req/s vs buffer configuration, one line per response
//     size, for the fastest client;
//   - p99: the same for p99 latency;
//   - hold: mean upstream hold time vs client speed, one line per
//     configuration, for the largest response;
//   - memory: peak buffer-pool bytes vs bytes spilled, one point per cell.
func (rep *Report) WritePlots(dir string) ([]string, error) {
	rs := rep.plotted()
	if len(rs) == 0 {
		return nil, nil
	}
	var paths []string
	save := func(p *plot.Plot, name string) error {
		for _, ext := range []string{".svg", ".png"} {
			path := filepath.Join(dir, name+ext)
			if err := p.Save(plotW, plotH, path); err != nil {
				return fmt.Errorf("plot %s: %w", path, err)
			}
			paths = append(paths, path)
		}
		return nil
	}
	configs, sizes, clients := axes(rs)
	client := clients[0]

	for _, m := range []struct {
		name, title, ylabel string
		v                   func(Result) float64
	}{
		{"throughput", "Throughput by buffer configuration (" + client.Name + " clients)", "requests/s (log)", func(r Result) float64 { return r.RPS }},
		{"p99", "p99 latency by buffer configuration (" + client.Name + " clients)", "p99 ms (log)", func(r Result) float64 { return r.P99ms }},
	} {
		p := plot.New()
		p.Title.Text, p.X.Label.Text, p.Y.Label.Text = m.title, "buffer configuration", m.ylabel
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		p.NominalX(names(configs)...)
		var lines []any
		for _, s := range sizes {
			var xys plotter.XYs
			for i, c := range configs {
				if r, ok := find(rs, c.Name(), s, client.Name); ok && m.v(r) > 0 {
					xys = append(xys, plotter.XY{X: float64(i), Y: m.v(r)})
				}
			}
			if len(xys) > 0 {
				lines = append(lines, s+" responses", xys)
			}
		}
		if err := plotutil.AddLinePoints(p, lines...); err != nil {
			return paths, err
		}
		p.Y.Min, p.Y.Max = p.Y.Min/2, p.Y.Max*2 // room for the legend on a log axis
		pad(p)
		if err := save(p, m.name); err != nil {
			return paths, err
		}
	}

	large := sizes[len(sizes)-1]
	p := plot.New()
	p.Title.Text = "Upstream hold time per request (" + large + " responses)"
	p.X.Label.Text, p.Y.Label.Text = "client", "mean upstream hold, ms"
	p.NominalX(clientNames(clients)...)
	var lines []any
	for _, c := range configs {
		var xys plotter.XYs
		for i, cl := range clients {
			if r, ok := find(rs, c.Name(), large, cl.Name); ok && r.HoldMeanms >= 0 {
				xys = append(xys, plotter.XY{X: float64(i), Y: r.HoldMeanms})
			}
		}
		if len(xys) > 0 {
			lines = append(lines, c.Name(), xys)
		}
	}
	if len(lines) > 0 { // no hold plot without hold times (--upstream)
		if err := plotutil.AddLinePoints(p, lines...); err != nil {
			return paths, err
		}
		p.Y.Min, p.Y.Max = 0, p.Y.Max*1.3
		pad(p)
		if err := save(p, "hold"); err != nil {
			return paths, err
		}
	}

	p, err := memoryPlot(rs, configs)
	if err != nil {
		return paths, err
	}
	if p != nil {
		if err := save(p, "memory"); err != nil {
			return paths, err
		}
	}
	return paths, nil
}

// The size plots are saved at.
const plotW, plotH = 7 * vg.Inch, 4.5 * vg.Inch

// memoryPlot is peak buffer-pool bytes vs bytes spilled, one point per
// cell, one glyph per configuration; nil without such numbers (nginx,
// --proxy). Its legend sits in a band above the data (reserveLegend): on
// the library's default placement it covered the points it names.
func memoryPlot(rs []Result, configs []BufferConfig) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Memory vs spill, one point per cell"
	p.X.Label.Text, p.Y.Label.Text = "bytes spilled to temp files, MiB", "peak buffer-pool bytes, MiB"
	var pts []any
	var maxX, maxY float64
	for _, c := range configs {
		var xys plotter.XYs
		for _, r := range rs {
			if r.Config.Name() == c.Name() && r.SpilledBytes >= 0 && r.PeakPoolBytes >= 0 {
				xy := plotter.XY{X: float64(r.SpilledBytes) / (1 << 20), Y: float64(r.PeakPoolBytes) / (1 << 20)}
				xys = append(xys, xy)
				maxX, maxY = max(maxX, xy.X), max(maxY, xy.Y)
			}
		}
		if len(xys) > 0 {
			pts = append(pts, c.Name(), xys)
		}
	}
	if len(pts) == 0 {
		return nil, nil
	}
	if err := plotutil.AddScatters(p, pts...); err != nil {
		return nil, err
	}
	p.Add(plotter.NewGrid())
	// Both axes start at 0 (bytes), with room past the largest values.
	p.X.Min, p.X.Max = 0, max(maxX*1.08, 1)
	p.Y.Min, p.Y.Max = 0, max(maxY, 1)
	p.Legend.Top = true
	reserveLegend(p, maxY)
	return p, nil
}

// reserveLegend raises the y axis's top so that the data (up to maxY)
// stay below the legend, which is drawn from the top of the plot area
// down, at the size the plots are saved at.
func reserveLegend(p *plot.Plot, maxY float64) {
	c := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: plotW, Y: plotH}}}
	h := p.DataCanvas(c).Size().Y
	room := p.Legend.Rectangle(c).Size().Y + 2*glyphRoom
	frac := min(float64(room/h), 0.8)
	top := max(maxY, p.Y.Min+1e-9)
	p.Y.Max = p.Y.Min + (top-p.Y.Min)/(1-frac)
}

// glyphRoom is more than a scatter glyph's radius.
const glyphRoom = 4 * vg.Millimeter

// plotted is the results of the first non-nginx target at the first
// concurrency.
func (rep *Report) plotted() []Result {
	var out []Result
	conc := -1
	for _, r := range rep.Results {
		if r.Target == "nginx" {
			continue
		}
		if conc < 0 {
			conc = r.Load.Concurrency
			for _, q := range rep.Results {
				conc = min(conc, q.Load.Concurrency)
			}
		}
		if r.Load.Concurrency == conc {
			out = append(out, r)
		}
	}
	return out
}

// axes returns the configurations by footprint, the size labels ascending
// and the clients fastest first.
func axes(rs []Result) ([]BufferConfig, []string, []ClientSpec) {
	seenC, seenS, seenL := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var cs []BufferConfig
	var ws []Workload
	var ls []ClientSpec
	for _, r := range rs {
		if !seenC[r.Config.Name()] {
			seenC[r.Config.Name()] = true
			cs = append(cs, r.Config)
		}
		if !seenS[r.Load.SizeLabel()] {
			seenS[r.Load.SizeLabel()] = true
			ws = append(ws, r.Load)
		}
		if !seenL[r.Load.Client.Name] {
			seenL[r.Load.Client.Name] = true
			ls = append(ls, r.Load.Client)
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Footprint() < cs[j].Footprint() })
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].meanSize() < ws[j].meanSize() })
	ss := make([]string, len(ws))
	for i, w := range ws {
		ss[i] = w.SizeLabel()
	}
	sort.SliceStable(ls, func(i, j int) bool { return clientLess(ls[i], ls[j]) })
	return cs, ss, ls
}

func find(rs []Result, config, size, client string) (Result, bool) {
	for _, r := range rs {
		if r.Config.Name() == config && r.Load.SizeLabel() == size && r.Load.Client.Name == client {
			return r, true
		}
	}
	return Result{}, false
}

func names(cs []BufferConfig) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name()
	}
	return out
}

func clientNames(cs []ClientSpec) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

// pad widens the x axis so that the first and last points and the legend
// (top right) don't sit on the plot's edges.
func pad(p *plot.Plot) {
	p.X.Min, p.X.Max = p.X.Min-0.3, p.X.Max+0.3
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
}
