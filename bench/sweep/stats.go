package sweep

import "math"

// tQuantile975 is Student's t at 0.975 for 1..30 degrees of freedom: the
// factor of a two-sided 95% confidence interval from that many windows
// minus one.
var tQuantile975 = [...]float64{0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}

// ci95 is the half-width of the 95% confidence interval of the mean of xs
// (t-distribution); -1 with fewer than two values.
func ci95(xs []float64) float64 {
	n := len(xs)
	if n < 2 {
		return -1
	}
	var mean float64
	for _, x := range xs {
		mean += x
	}
	mean /= float64(n)
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(ss / float64(n-1))
	t := 1.96
	if n-1 < len(tQuantile975) {
		t = tQuantile975[n-1]
	}
	return t * sd / math.Sqrt(float64(n))
}

// windowStats fills in r's ± figures from the load's windows: req/s and
// p99 per window, and the 95% confidence half-width of each.
func windowStats(r *Result, lr loadResult) {
	r.Windows, r.RPSCI, r.P99CI = len(lr.windows), -1, -1
	if len(lr.windows) < 2 {
		return
	}
	var rps, p99 []float64
	for _, h := range lr.windows {
		rps = append(rps, float64(h.TotalCount())/lr.winLen.Seconds())
		if h.TotalCount() > 0 {
			p99 = append(p99, float64(h.ValueAtQuantile(99))/1000)
		}
	}
	r.RPSCI, r.P99CI = ci95(rps), ci95(p99)
}
