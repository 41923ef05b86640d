package difftest

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Global normalisation rules, applied to every scenario. Each drops lines
// that one side writes and the other never does, for a documented reason;
// the suite checks that each rule still matches somewhere (a difference
// that disappeared must leave the list).
type dropRule struct {
	Name   string
	Side   string // "nginx" or "spillway"
	re     *regexp.Regexp
	Reason string
}

var dropRules = []dropRule{
	{
		Name: "notice", Side: "",
		re:     regexp.MustCompile(`^\[notice\] [^*]`),
		Reason: "process lifecycle lines (start, signals, exit; no request's `*N`) differ by design: one nginx master and worker against one in-process spillway; docs/operations.md compares them",
	},
	{
		Name: "closed-keepalive", Side: "",
		re:     regexp.MustCompile(`^\[info\] \*N client 127\.0\.0\.1 closed keepalive connection( \(104: Connection reset by peer\))?$`),
		Reason: "both log `[info] client 127.0.0.1 closed keepalive connection` for a client that closes a kept connection, but spillway's line is written by that connection's goroutine, so it may follow a line of the next request on another connection, and the counts still differ where the two keep-alive decisions do (README)",
	},
	{
		Name: "retry-decision", Side: "spillway",
		re:     regexp.MustCompile(`^\[info\] \*N (retrying|not retried): `),
		Reason: "spillway adds an `[info]` line after nginx's own saying whether and why a failed attempt is retried (README: \"a retry decision\")",
	},
}

var (
	reHead = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: `)
	reConn = regexp.MustCompile(`^\*\d+ `)
	reAddr = regexp.MustCompile(`127\.0\.0\.[12]:\d+`)
	reTemp = regexp.MustCompile(`/\d{10}\b`)
)

// normaliseLog turns a raw error log into comparable lines: timestamps and
// pid#tid removed, *N for connection numbers, U0, U1, ... and PROXY for
// addresses, <dir> for the side's directory, <N> for temp file numbers.
// Lines a global rule drops are counted by rule.
func normaliseLog(raw string, names map[string]string, dir string) (lines []string, dropped map[string]int) {
	dropped = map[string]int{}
	for _, l := range strings.Split(raw, "\n") {
		if l == "" {
			continue
		}
		m := reHead.FindStringSubmatchIndex(l)
		if m == nil {
			lines = append(lines, "?? "+l)
			continue
		}
		level, rest := l[m[2]:m[3]], l[m[1]:]
		rest = reConn.ReplaceAllString(rest, "*N ")
		rest = strings.ReplaceAll(rest, dir, "<dir>")
		rest = reTemp.ReplaceAllString(rest, "/<N>")
		rest = reAddr.ReplaceAllStringFunc(rest, func(a string) string {
			if n, ok := names[a]; ok {
				return n
			}
			return "127.0.0.x:PORT"
		})
		line := "[" + level + "] " + rest
		drop := ""
		for _, r := range dropRules {
			if r.re.MatchString(line) {
				drop = r.Name
				break
			}
		}
		if drop != "" {
			dropped[drop]++
			continue
		}
		lines = append(lines, line)
	}
	return lines, dropped
}

var reFooter = regexp.MustCompile(`<hr><center>(nginx/[0-9.]+|spillway)</center>`)

// normBody replaces the error page footer (nginx/1.22.1 or spillway: a
// deliberate difference, README) by one placeholder.
func normBody(b []byte) []byte {
	return reFooter.ReplaceAll(b, []byte("<hr><center>SERVER</center>"))
}

// describeBody is a body in a failure message: short ones as text.
func describeBody(b []byte) string {
	if len(b) <= 200 {
		return fmt.Sprintf("%d bytes %q", len(b), b)
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%d bytes, sha256 %x...", len(b), sum[:8])
}

// Diffs are the aspects in which two outcomes differ, each with a
// description.
type Diffs map[Aspect][]string

// Aspects returns the differing aspects, sorted.
func (d Diffs) Aspects() []Aspect {
	var out []Aspect
	for a := range d {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Compare compares nginx's and spillway's outcomes for s.
func Compare(s *Scenario, ng, sp *Outcome) Diffs {
	d := Diffs{}
	add := func(a Aspect, format string, args ...any) { d[a] = append(d[a], fmt.Sprintf(format, args...)) }
	for i := range s.Requests {
		rn, rs := ng.Responses[i], sp.Responses[i]
		if rn.Status != rs.Status {
			add(AspectStatus, "request %d: nginx %s, spillway %s", i+1, rn.Status, rs.Status)
		}
		bn, bs := normBody(rn.Body), normBody(rs.Body)
		if string(bn) != string(bs) {
			add(AspectBody, "request %d: nginx %s, spillway %s", i+1, describeBody(bn), describeBody(bs))
		}
		if rn.Auth != rs.Auth {
			add(AspectAuth, "request %d: nginx WWW-Authenticate %q, spillway %q", i+1, rn.Auth, rs.Auth)
		}
		if hn, hs := headerValues(s.Headers, rn.Lines), headerValues(s.Headers, rs.Lines); hn != hs {
			add(AspectHeader, "request %d: nginx %s, spillway %s", i+1, hn, hs)
		}
		if (len(s.Locations) > 0 || s.ServerReturn != "" || s.ServerRewrite != "") && rn.Headers != rs.Headers {
			add(AspectHeaders, "request %d: nginx\n\t%s\nspillway\n\t%s", i+1, strings.ReplaceAll(rn.Headers, "\n", "\n\t"), strings.ReplaceAll(rs.Headers, "\n", "\n\t"))
		}
		if rn.End != rs.End {
			add(AspectEnd, "request %d: nginx %q (%s), spillway %q (%s)", i+1, rn.End, rn.Err, rs.End, rs.Err)
		}
	}
	for i := range s.Servers {
		hn, hs := ng.Hits[i], sp.Hits[i]
		keys := map[string]bool{}
		for k := range hn {
			keys[k] = true
		}
		for k := range hs {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			if hn[k] != hs[k] {
				add(AspectHits, "U%d %s: nginx %d, spillway %d", i, k, hn[k], hs[k])
			}
		}
		if s.CompareConns && ng.Conns[i] != sp.Conns[i] {
			add(AspectConns, "U%d connections: nginx %d, spillway %d", i, ng.Conns[i], sp.Conns[i])
		}
	}
	if an, as := slices.Sorted(slices.Values(ng.Access)), slices.Sorted(slices.Values(sp.Access)); !slices.Equal(an, as) {
		add(AspectAccess, "nginx:\n\t%s\nspillway:\n\t%s", strings.Join(ng.Access, "\n\t"), strings.Join(sp.Access, "\n\t"))
	}
	if !slices.Equal(ng.Log, sp.Log) {
		add(AspectLog, "nginx:\n\t%s\nspillway:\n\t%s", strings.Join(ng.Log, "\n\t"), strings.Join(sp.Log, "\n\t"))
	}
	return d
}

// Check says whether the observed differences are exactly the ones s
// documents: nil when they are.
func Check(s *Scenario, d Diffs) error {
	var got []Aspect
	for _, a := range d.Aspects() {
		if !slices.Contains(s.Racy, a) {
			got = append(got, a)
		}
	}
	var want []Aspect
	if s.Diff != nil {
		want = slices.Clone(s.Diff.Aspects)
		slices.Sort(want)
	}
	if slices.Equal(got, want) {
		return nil
	}
	var b strings.Builder
	switch {
	case len(want) == 0:
		fmt.Fprintf(&b, "nginx and spillway differ in %v (the scenario documents no difference)", got)
	case len(got) == 0:
		fmt.Fprintf(&b, "the documented difference in %v has disappeared: update the scenario, docs/differential.md and README", want)
	default:
		fmt.Fprintf(&b, "nginx and spillway differ in %v, the scenario documents %v", got, want)
	}
	for _, a := range got {
		for _, l := range d[a] {
			fmt.Fprintf(&b, "\n%s: %s", a, l)
		}
	}
	return fmt.Errorf("%s", b.String())
}

// headerValues renders the named headers of one response for comparison:
// "name=[v1 v2]" each, an Expires that is a date within a year of the
// response's Date as "Date+Nm", its distance rounded to the minute (the
// two proxies answer in different seconds, and spillway's Date is
// fasthttp's clock, up to a second behind).
func headerValues(names []string, lines []string) string {
	var date time.Time
	for _, l := range lines {
		if k, v, _ := strings.Cut(l, ": "); strings.EqualFold(k, "Date") {
			date, _ = http.ParseTime(v)
		}
	}
	var b strings.Builder
	for _, n := range names {
		var vals []string
		for _, l := range lines {
			k, v, _ := strings.Cut(l, ": ")
			if !strings.EqualFold(k, n) {
				continue
			}
			if t, err := http.ParseTime(v); err == nil && strings.EqualFold(n, "Expires") && !date.IsZero() &&
				t.Sub(date).Abs() < 365*24*time.Hour {
				v = fmt.Sprintf("Date%+dm", int(t.Sub(date).Round(time.Minute)/time.Minute))
			}
			if strings.EqualFold(n, "Location") {
				v = portRE.ReplaceAllString(v, "$1") // each side listens on its own port
			}
			vals = append(vals, v)
		}
		fmt.Fprintf(&b, "%s=%q ", n, vals)
	}
	return strings.TrimSpace(b.String())
}
