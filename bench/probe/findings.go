package probe

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"spillway/proxy/idlelearn"
)

// nginx error-log texts the findings refer to (nginx 1.22, see
// docs nginx-reference.md).
const (
	ngxRefused     = "connect() failed (111: Connection refused) while connecting to upstream → 502 (retried on the next server, POST included: nothing was sent)"
	ngxConnTimeout = "upstream timed out (110: Connection timed out) while connecting to upstream → 504"
	ngxResetHeader = "recv() failed (104: Connection reset by peer) while reading response header from upstream → 502"
	ngxResetSend   = "writev() failed (104: Connection reset by peer) while sending request to upstream → 502"
	ngxPremature   = "upstream prematurely closed connection while reading response header from upstream → 502"
	ngxReadTimeout = "upstream timed out (110: Connection timed out) while reading response header from upstream → 504"
	ngxNoValid     = "upstream sent no valid HTTP/1.0 header while reading response header from upstream"
	ngxTooBig      = "upstream sent too big header while reading response header from upstream → 502"
)

// ngxFor is nginx's line for a request that failed with kind before the
// response header.
func ngxFor(kind string) string {
	switch kind {
	case CloseRST:
		return ngxResetHeader
	case CloseFIN:
		return ngxPremature
	case CloseTimeout:
		return ngxReadTimeout
	}
	return ""
}

func closeName(kind string) string {
	switch kind {
	case CloseRST:
		return "RST"
	case CloseFIN:
		return "FIN"
	}
	return kind
}

// nginxDuration prints d in nginx's units (4s, 1500ms).
func nginxDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.Itoa(int(d/time.Second)) + "s"
	}
	return strconv.Itoa(int(d/time.Millisecond)) + "ms"
}

// keepaliveTimeoutFor is the proxy's keepalive_timeout for an upstream that
// closes idle connections after t: below t by 20%, at least 1s when t
// allows it, so that the proxy always closes first (5s → 4s, 75s → 60s).
func keepaliveTimeoutFor(t time.Duration) time.Duration {
	t = t.Round(100 * time.Millisecond) // a measured 4.99s is nginx's 5s
	rec := t - max(t/5, min(time.Second, t/2))
	if rec >= 2*time.Second {
		return rec.Truncate(time.Second)
	}
	return max(rec.Truncate(100*time.Millisecond), 100*time.Millisecond)
}

// nginxSize prints n rounded down to nginx units (1k, 8m).
func nginxSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0, n >= 16<<20:
		return strconv.FormatInt(n>>20, 10) + "m"
	case n >= 1024:
		return strconv.FormatInt(n>>10, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}

// findings turns the results into report lines.
func findings(r *Report, cfg *Config, outOfTime bool) []Finding {
	var fs []Finding
	add := func(check, summary, nginx, advice string) {
		fs = append(fs, Finding{Check: check, Summary: summary, Nginx: nginx, Advice: advice})
	}
	b := r.Baseline
	if b.ConnectErr == kindOutOfTime || b.RequestErr == kindOutOfTime {
		add("probe", "stopped by --max-time "+fmtDur(cfg.MaxTime)+" before the first answer", "", "raise --max-time")
		return fs
	}
	switch b.ConnectErr {
	case "":
		add("connect", "TCP handshake "+b.Connect.String()+" (median of 3)", "", "")
	case "refused":
		add("connect", "connection refused: nothing listens there", ngxRefused, "check the address; with several servers max_fails/fail_timeout take it out")
		return fs
	case CloseTimeout:
		add("connect", "connect timed out", ngxConnTimeout, "proxy_connect_timeout bounds the wait (default 60s)")
		return fs
	default:
		add("connect", "connect failed: "+b.ConnectErr, "", "")
		return fs
	}
	if b.RequestErr != "" {
		what := map[string]string{CloseRST: "reset (RST) before any response byte", CloseFIN: "closed (FIN) before any response byte", CloseTimeout: "no response within " + fmtDur(cfg.Timeout)}[b.RequestErr]
		nginx := ngxFor(b.RequestErr)
		if what == "" {
			what, nginx = "no valid HTTP response ("+b.RequestErr+")", ngxNoValid
		}
		add("first byte", "GET "+cfg.URL+": "+what, nginx, "")
		return fs
	}
	server := ""
	if b.Server != "" {
		server = ", Server: " + b.Server
	}
	add("first byte", fmt.Sprintf("GET → %d %s after %s%s", b.Status, b.Proto, b.FirstByte, server), "", "")
	if b.HeaderBytes > 4096 {
		size := int64(8192)
		for size < int64(b.HeaderBytes) {
			size *= 2
		}
		add("response header", fmt.Sprintf("%d B, more than one page", b.HeaderBytes), ngxTooBig+" with the default 4k", "proxy_buffer_size "+nginxSize(size))
	} else {
		add("response header", fmt.Sprintf("%d B", b.HeaderBytes), "", "fits the default proxy_buffer_size 4k")
	}
	if b.Keepalive {
		add("keepalive", "honoured: a second request on the connection was answered", "", "upstream keepalive (keepalive N in the upstream block) can be used")
	} else {
		add("keepalive", "not honoured: "+b.NoKeepalive, "", "every request costs a new connection; keepalive in the upstream block brings nothing")
		// Say so rather than leave the lines out.
		if slices.Contains(cfg.Checks, CheckKeepaliveRequests) {
			add("requests/conn", "not measured: no keepalive", "", "")
		}
		if slices.Contains(cfg.Checks, CheckIdle) {
			add("idle timeout", "not measured: no keepalive", "", "")
		}
	}

	if k := r.KeepaliveRequests; k != nil {
		switch {
		case k.Limit > 0 && k.Announced:
			close := ""
			if k.Close != "" && k.Close != CloseTimeout {
				close = ", then " + closeName(k.Close)
			}
			add("requests/conn", fmt.Sprintf("upstream closes after %d requests, announced with Connection: close%s", k.Limit, close),
				"nothing: nginx closes the connection after that response", fmt.Sprintf("keepalive_requests %d or less avoids the churn", k.Limit))
		case k.Limit > 0 || (k.Tried > 0 && k.Close != ""):
			add("requests/conn", fmt.Sprintf("upstream closes after %d requests WITHOUT announcing it (%s)", k.Limit, closeName(k.Close)),
				fmt.Sprintf("request %d on a connection: %s (GET retried, POST not)", k.Limit+1, ngxFor(k.Close)), fmt.Sprintf("keepalive_requests %d", k.Limit))
		case k.Tried >= cfg.RequestsMax:
			add("requests/conn", fmt.Sprintf("no limit within %d requests on one connection", k.Tried), "", "raise --requests-max to look further")
		default:
			add("requests/conn", fmt.Sprintf("no limit within %d requests (stopped by --max-time)", k.Tried), "", "")
		}
	}

	if i := r.Idle; i != nil {
		idleFinding(add, i, cfg)
	}

	if h := r.Header; h != nil {
		line := h.MaxAccepted - h.LineOverhead
		switch {
		case h.FirstRejected > 0:
			nginx := "passes the upstream's " + h.Reject + " to the client (no error line)"
			if n := ngxFor(h.Reject); n != "" {
				nginx = n + " (or " + ngxResetSend + ")"
				if h.Reject != CloseRST {
					nginx = n
				}
			}
			k := (line - 1024) / 1024
			advice := "nginx's default large_client_header_buffers 4 8k rejects longer lines first"
			if k < 8 {
				advice = fmt.Sprintf("large_client_header_buffers 4 %dk, so that nginx answers 400 before the upstream %s (the proxy adds headers)", max(k, 1), h.Reject)
			}
			add("request header", fmt.Sprintf("largest request head accepted %s (one header line of %s); beyond: %s",
				fmtBytes(int64(h.MaxAccepted)), fmtBytes(int64(line)), rejectName(h.Reject)), nginx, advice)
		case h.Tried > 0:
			add("request header", "request heads up to "+fmtBytes(int64(h.Tried))+" accepted (the largest tried)", "", "")
		}
	}

	if bd := r.Body; bd != nil {
		bodyFinding(add, bd)
	}

	if p := r.Pipeline; p != nil {
		note := "nginx never pipelines to upstreams: informational"
		switch {
		case p.Answered == 2:
			add("pipelining", "two pipelined requests answered in order", note, "")
		case p.Answered == 1:
			add("pipelining", fmt.Sprintf("answers the first pipelined request only (%s, then %s)", p.Note, closeName(p.Close)), note, "")
		default:
			add("pipelining", "no answer to pipelined requests ("+closeName(p.Close)+")", note, "")
		}
	}

	if e := r.Expect; e != nil {
		note := "nginx answers Expect: 100-continue itself and does not forward it: informational"
		switch {
		case e.Continue:
			add("100-continue", fmt.Sprintf("100 Continue after %s, then %d", e.Wait, e.Status), note, "")
		case e.Early:
			add("100-continue", fmt.Sprintf("answers %d at once, without the body", e.Status), note, "")
		case e.Ignored:
			add("100-continue", fmt.Sprintf("ignored: nothing within 1s, %d once the body was sent (a waiting client loses 1s)", e.Status), note, "")
		default:
			add("100-continue", "connection ended before an answer", note, "")
		}
	}
	if outOfTime {
		add("probe", "stopped by --max-time "+fmtDur(cfg.MaxTime)+": some checks are incomplete", "", "raise --max-time or narrow --idle-max")
	}
	return fs
}

func rejectName(kind string) string {
	switch kind {
	case CloseRST:
		return "connection reset (RST)"
	case CloseFIN:
		return "connection closed (FIN) without an answer"
	case CloseTimeout:
		return "no answer"
	}
	return kind
}

// learnedLine is what spillway's error log says once it has learned the
// same timeout from this upstream (proxy/idlelearn): the same figure.
func learnedLine(cfg *Config, t time.Duration, close string) string {
	addr := cfg.URL
	if u, err := url.Parse(cfg.URL); err == nil {
		addr = u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	how := idlelearn.FIN
	if close == CloseRST {
		how = idlelearn.RST
	}
	return `"` + idlelearn.Message(addr, t, how, idlelearn.Keep(t)) + `"`
}

func idleFinding(add func(check, summary, nginx, advice string), i *IdleResult, cfg *Config) {
	const check = "idle timeout"
	reuse := func() string {
		if i.Lo > 0 && i.Hi > 0 {
			return fmt.Sprintf("; reuse after %s works, after %s fails", i.Lo, i.Hi)
		}
		return ""
	}
	switch {
	case i.Found && i.Observed > 0:
		t := time.Duration(i.Timeout)
		nginx := "a connection reused as the close arrives: " + ngxPremature + " (GET retried, POST not)"
		if i.Close == CloseRST {
			nginx = "the reuse race surfaces as " + ngxResetHeader + " or " + ngxResetSend + " (GET retried, POST not)"
		}
		add(check, fmt.Sprintf("upstream closes idle connections after %s with %s%s", i.Timeout, closeName(i.Close), reuse()),
			nginx, "keepalive_timeout "+nginxDuration(keepaliveTimeoutFor(t))+"; spillway learns it (keepalive_timeout_learn on): "+learnedLine(cfg, t, i.Close))
	case i.Found:
		add(check, fmt.Sprintf("upstream drops idle connections after ~%s without closing them; a reused one gets %s%s", i.Timeout, closeName(i.Reuse), reuse()),
			"every reuse after that fails: "+ngxFor(i.Reuse)+" (GET retried, POST not)", "keepalive_timeout "+nginxDuration(keepaliveTimeoutFor(time.Duration(i.Timeout)))+
				"; spillway learns it from the failed reuses (keepalive_timeout_learn on): "+learnedLine(cfg, time.Duration(i.Timeout), i.Reuse))
	case i.Observed > 0:
		add(check, fmt.Sprintf("upstream closed an idle connection after %s with %s (%s)", i.Observed, closeName(i.Close), i.Note),
			ngxFor(i.Close), "keepalive_timeout "+nginxDuration(keepaliveTimeoutFor(time.Duration(i.Observed))))
	case strings.HasPrefix(i.Note, "no idle close"):
		add(check, i.Note+" (--idle-max "+fmtDur(cfg.IdleMax)+")", "", "keep keepalive_timeout below the upstream's own idle timeout; raise --idle-max and --max-time to find it")
	default:
		add(check, "unknown: "+i.Note, "", "")
	}
}

func bodyFinding(add func(check, summary, nginx, advice string), b *BodyResult) {
	const check = "request body"
	early := ""
	if b.Early {
		early = fmt.Sprintf("; answers %d before reading the body", b.EarlyStatus)
		if b.AfterEarly != "" && b.AfterEarly != CloseTimeout {
			early += ", then " + closeName(b.AfterEarly)
		}
	}
	earlyRST := b.Early && (b.AfterEarly == CloseRST || b.Unread == CloseRST)
	if b.Early && b.Unread != "" && b.Unread != CloseTimeout {
		if b.UnreadStatus != 0 && b.UnreadStatus != b.EarlyStatus {
			// Another answer (a size limit): say which one the close followed.
			early += fmt.Sprintf("; a %s body sent behind the head (as a proxy does) gets %d, then %s", fmtBytes(b.UnreadSize), b.UnreadStatus, closeName(b.Unread))
		} else {
			early += fmt.Sprintf("; with the body sent behind the head (as a proxy does) the close is %s", closeName(b.Unread))
		}
	}
	// What the path answers to bodies it takes in: "accepted", or the
	// status of a path that does not take POSTs (405, 501, ...).
	taken := "accepted"
	if b.Status >= 400 {
		taken = fmt.Sprintf("answered %d (the path does not take bodies)", b.Status)
	}
	switch {
	case b.FirstRejected > 0:
		var nginx string
		switch b.Reject {
		case "413":
			nginx = "buffers the whole body, then relays the upstream's 413"
		case CloseRST:
			nginx = ngxResetSend + " (or " + ngxResetHeader + "); POST is not retried"
		default:
			nginx = ngxFor(b.Reject)
		}
		if earlyRST {
			nginx = "it closes with the body unread, so a proxy still sending gets RST: " + ngxResetSend + " instead of the upstream's " + b.Reject
		}
		lo, hi := fmtBytes(b.MaxAccepted), fmtBytes(b.FirstRejected)
		if lo == hi {
			lo, hi = fmt.Sprintf("%d B", b.MaxAccepted), fmt.Sprintf("%d B", b.FirstRejected)
		}
		add(check, fmt.Sprintf("bodies up to %s %s, %s refused: %s%s", lo, taken, hi, rejectName(b.Reject), early),
			nginx, "client_max_body_size "+nginxSize(b.MaxAccepted)+", so that nginx answers 413 itself")
	case b.Status >= 400:
		nginx := "passes the upstream's " + strconv.Itoa(b.Status) + " on"
		advice := ""
		if earlyRST {
			nginx = "closing with the body unread makes the kernel send RST: the client may get 502 with " + ngxResetSend + " (or " + ngxResetHeader + ") instead of the upstream's " + strconv.Itoa(b.Status)
			advice = "the upstream should read (or drain) the body before closing; POSTs to this path are a reset source"
		}
		add(check, fmt.Sprintf("POST %s, bodies up to %s tried%s", taken, fmtBytes(b.Tried), early), nginx, advice)
	default:
		add(check, fmt.Sprintf("bodies up to %s accepted (the largest tried)%s", fmtBytes(b.Tried), early), "", "")
	}
}
