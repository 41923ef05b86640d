package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that marshals to JSON as seconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(d).Seconds(), 'f', 4, 64), nil
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	*d = Duration(f * float64(time.Second))
	return err
}

func (d Duration) String() string { return fmtDur(time.Duration(d)) }

// fmtDur prints durations the way the report wants them: 0.42ms, 12ms, 5.0s.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%.0fs", d.Seconds())
}

// fmtBytes prints 512 B, 8.0 KiB, 1.5 MiB.
func fmtBytes(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// Close kinds as seen from the client.
const (
	CloseFIN     = "fin"     // read returned EOF: an orderly close
	CloseRST     = "rst"     // read or write returned ECONNRESET (or EPIPE after one)
	CloseTimeout = "timeout" // nothing happened before our deadline
)

// Report is what Run found. Every result is nil when its check did not
// run (skipped, not applicable, or out of time; see Findings).
type Report struct {
	URL      string   `json:"url"`
	Elapsed  Duration `json:"elapsed_s"`
	Requests int      `json:"requests_sent"`

	Baseline          *BaselineResult `json:"baseline,omitempty"`
	KeepaliveRequests *RequestsResult `json:"keepalive_requests,omitempty"`
	Idle              *IdleResult     `json:"idle,omitempty"`
	Header            *HeaderResult   `json:"request_header,omitempty"`
	Body              *BodyResult     `json:"request_body,omitempty"`
	Pipeline          *PipelineResult `json:"pipelining,omitempty"`
	Expect            *ExpectResult   `json:"expect_100_continue,omitempty"`

	Findings []Finding `json:"findings"`
}

// Finding is one line of the report: what was seen, what nginx would make
// of it, and the setting to use.
type Finding struct {
	Check   string `json:"check"`
	Summary string `json:"summary"`
	Nginx   string `json:"nginx,omitempty"`  // what nginx logs / does because of it
	Advice  string `json:"advice,omitempty"` // the proxy setting to use
}

// BaselineResult is the first plain request.
type BaselineResult struct {
	Connect     Duration `json:"connect_s"`    // median of the TCP handshakes
	FirstByte   Duration `json:"first_byte_s"` // request written → first response byte
	Status      int      `json:"status"`
	Proto       string   `json:"proto"`
	Server      string   `json:"server,omitempty"`
	HeaderBytes int      `json:"response_header_bytes"`
	Keepalive   bool     `json:"keepalive"` // a second request on the same connection was answered
	NoKeepalive string   `json:"no_keepalive_reason,omitempty"`
	ConnectErr  string   `json:"connect_error,omitempty"`
	RequestErr  string   `json:"request_error,omitempty"`
}

// RequestsResult is the keepalive_requests-style limit.
type RequestsResult struct {
	Limit     int    `json:"limit"`     // requests answered on one connection before it closed; 0: none seen
	Tried     int    `json:"tried"`     // requests sent
	Announced bool   `json:"announced"` // the last response carried Connection: close
	Close     string `json:"close,omitempty"`
}

// IdleResult is the idle keepalive timeout.
type IdleResult struct {
	Found   bool     `json:"found"`
	Timeout Duration `json:"timeout_s"` // best estimate
	// Lo and Hi bracket the timeout as seen by a client that reuses the
	// connection: still usable after Lo, failed after Hi.
	Lo Duration `json:"alive_after_s"`
	Hi Duration `json:"dead_after_s"`
	// Observed is when an idle connection we watched was closed by the
	// upstream, and Close how (fin or rst); zero when it never closed it.
	Observed Duration `json:"observed_close_s"`
	Close    string   `json:"close,omitempty"`
	// Reuse is what a request sent on an idle-closed connection got: fin or rst.
	Reuse string `json:"reuse_error,omitempty"`
	Note  string `json:"note,omitempty"`
}

// HeaderResult is the largest request head accepted.
type HeaderResult struct {
	MaxAccepted   int    `json:"max_accepted"`   // bytes of request line + headers + empty line
	FirstRejected int    `json:"first_rejected"` // 0: nothing rejected up to Tried
	Tried         int    `json:"tried_up_to"`
	Reject        string `json:"reject,omitempty"` // status code, "rst", "fin" or "timeout"
	LineOverhead  int    `json:"line_overhead"`    // MaxAccepted minus this is the longest single header line
}

// BodyResult is how request bodies are treated.
type BodyResult struct {
	Status        int    `json:"status"` // answer to the smallest body
	MaxAccepted   int64  `json:"max_accepted"`
	FirstRejected int64  `json:"first_rejected"` // 0: nothing rejected up to Tried
	Tried         int64  `json:"tried_up_to"`
	Reject        string `json:"reject,omitempty"` // status code, "rst", "fin" or "timeout"
	// Early: the upstream answered before we sent any body byte.
	Early       bool   `json:"answers_before_body"`
	EarlyStatus int    `json:"early_status,omitempty"`
	AfterEarly  string `json:"close_after_early,omitempty"` // how the connection ended after an early answer
	// Unread is how the connection ended when a 4 MiB body was sent right
	// behind the head (as a proxy does) to an upstream that answers early:
	// "rst" means it closed with the body unread and the reset reached the
	// reader or the writer.
	Unread string `json:"close_with_unread_body,omitempty"`
	// UnreadSize is the body size of that test and UnreadStatus the answer
	// it got (0: none), which may differ from EarlyStatus (a size limit).
	UnreadSize   int64 `json:"unread_body_size,omitempty"`
	UnreadStatus int   `json:"unread_body_status,omitempty"`
}

// PipelineResult is the answer to two requests sent in one write.
type PipelineResult struct {
	Answered int    `json:"answered"` // 0, 1 or 2
	Close    string `json:"close,omitempty"`
	Note     string `json:"note,omitempty"`
}

// ExpectResult is the answer to Expect: 100-continue.
type ExpectResult struct {
	Continue bool     `json:"continue"` // "100 Continue" came before the body
	Wait     Duration `json:"wait_s"`   // how long until the 100 or the final answer
	Status   int      `json:"status"`   // the final status
	Early    bool     `json:"final_without_body"`
	Ignored  bool     `json:"ignored"` // nothing came within the wait
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the human report: one line per finding, the nginx
// consequence and the advice indented below it.
func (r *Report) WriteText(w io.Writer) error {
	var s strings.Builder
	plural := "s"
	if r.Requests == 1 {
		plural = ""
	}
	fmt.Fprintf(&s, "spillway probe %s (%s, %d request%s)\n", r.URL, r.Elapsed, r.Requests, plural)
	width := 0
	for _, f := range r.Findings {
		width = max(width, len(f.Check))
	}
	pad := strings.Repeat(" ", width+4)
	for _, f := range r.Findings {
		line := f.Summary
		if f.Advice != "" {
			line += " → " + f.Advice
		}
		fmt.Fprintf(&s, "  %-*s  %s\n", width, f.Check, line)
		if f.Nginx != "" {
			fmt.Fprintf(&s, "%snginx: %s\n", pad, f.Nginx)
		}
	}
	_, err := io.WriteString(w, s.String())
	return err
}

// Unreachable is an error when the probe could not get a first answer: the
// connection was refused (or failed otherwise), or the first request got
// no response, or one that is not HTTP. The report still says which.
func (r *Report) Unreachable() error {
	switch b := r.Baseline; {
	case b == nil:
		return nil
	case b.ConnectErr != "":
		return fmt.Errorf("probe %s: connect failed: %s", r.URL, b.ConnectErr)
	case b.RequestErr != "":
		return fmt.Errorf("probe %s: no valid HTTP response to the first request: %s", r.URL, b.RequestErr)
	}
	return nil
}
