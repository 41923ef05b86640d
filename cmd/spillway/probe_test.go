package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"spillway/bench/probe"
	"spillway/bench/upstreamsim"
)

func runProbeCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"probe"}, args...))
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// spillway probe against spillway's own upstream with known limits: the
// JSON report has them, and the text report says them in one line each.
func TestProbeCommand(t *testing.T) {
	t.Parallel()
	u, err := upstreamsim.StartUpstream("127.0.0.1:0", upstreamsim.KeepaliveRequests(5), upstreamsim.HeaderLimit(3000, upstreamsim.Reply400))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	args := []string{"--rate", "50", "--checks", "keepalive_requests,header", "--header-max", "16k", u.URL() + "/"}

	out, _, err := runProbeCmd(t, append([]string{"--json"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var r probe.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if k := r.KeepaliveRequests; k == nil || k.Limit != 5 || !k.Announced || k.Close != probe.CloseFIN {
		t.Errorf("keepalive_requests: %+v", k)
	}
	if h := r.Header; h == nil || h.Reject != "400" || h.MaxAccepted > 3000 || h.MaxAccepted < 2700 || h.FirstRejected <= 3000 {
		t.Errorf("request header: %+v", h)
	}
	if r.Idle != nil || r.Body != nil || r.Pipeline != nil || r.Expect != nil {
		t.Errorf("checks not asked for ran: %+v", r)
	}

	out, stderr, err := runProbeCmd(t, append([]string{"--progress"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"spillway probe " + u.URL() + "/",
		"requests/conn    upstream closes after 5 requests, announced with Connection: close, then FIN → keepalive_requests 5",
		"beyond: 400",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	// --progress: plain lines on stderr (not a terminal), never the report.
	if strings.Contains(stderr, "\x1b") || strings.Contains(stderr, "requests/conn") {
		t.Errorf("progress on stderr:\n%s", stderr)
	}
}

// --max-time bounds the whole probe, whatever the checks still want: the
// report comes before the upstream's idle close (a minute), which the idle
// check would otherwise wait for and report.
func TestProbeCommandMaxTime(t *testing.T) {
	t.Parallel()
	u, err := upstreamsim.StartUpstream("127.0.0.1:0", upstreamsim.IdleFIN(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	out, _, err := runProbeCmd(t, "--max-time", "1s", "--checks", "idle", u.URL()+"/")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "stopped by --max-time 1.0s") || strings.Contains(out, "closes idle connections after") {
		t.Errorf("report:\n%s", out)
	}
}

func TestProbeCommandErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"ftp://127.0.0.1:1/"},
		{"http://[::1/"},
		{"http:///x"},
		{"--body-max", "lots", "http://127.0.0.1:1/"},
		{"--header-max", "1q", "http://127.0.0.1:1/"},
		{"--checks", "idle,colour", "http://127.0.0.1:1/"},
	} {
		if _, _, err := runProbeCmd(t, args...); err == nil {
			t.Errorf("probe %q: no error", args)
		}
	}
}

// A target that refuses, or answers with something that is not HTTP,
// fails the command (scripts see a non-zero exit) after the report says
// why.
func TestProbeCommandUnreachable(t *testing.T) {
	t.Parallel()
	refused := upstreamsim.RefusedAddr(t)
	out, _, err := runProbeCmd(t, "--checks", "header", refused)
	if err == nil || !strings.Contains(err.Error(), "connect failed: refused") {
		t.Errorf("refused: error %v", err)
	}
	if !strings.Contains(out, "connection refused: nothing listens there") {
		t.Errorf("refused: the report does not say so:\n%s", out)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hello, this is not HTTP\r\n\r\n"))
			_ = c.Close()
		}
	}()
	defer func() { _ = ln.Close(); <-done }()
	_, _, err = runProbeCmd(t, "--checks", "header", "--rate", "50", "http://"+ln.Addr().String()+"/")
	if err == nil || !strings.Contains(err.Error(), "no valid HTTP response") {
		t.Errorf("not HTTP: error %v", err)
	}
}

// host:port without a scheme means http://host:port/, and https:// probes
// over TLS (--insecure for a self-signed test certificate).
func TestProbeCommandSchemes(t *testing.T) {
	t.Parallel()
	u, err := upstreamsim.StartUpstream("127.0.0.1:0", upstreamsim.HeaderLimit(3000, upstreamsim.Reply400))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	out, _, err := runProbeCmd(t, "--json", "--rate", "50", "--checks", "header", "--header-max", "16k", u.Addr())
	if err != nil {
		t.Fatal(err)
	}
	var r probe.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.URL != "http://"+u.Addr() || r.Baseline == nil || r.Baseline.Status != 200 || r.Header == nil || r.Header.Reject != "400" {
		t.Errorf("host:port: url %q, baseline %+v, header %+v", r.URL, r.Baseline, r.Header)
	}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	out, _, err = runProbeCmd(t, "--json", "--insecure", "--rate", "50", "--checks", "header", "--header-max", "4k", srv.URL+"/")
	if err != nil {
		t.Fatalf("https --insecure: %v\n%s", err, out)
	}
	r = probe.Report{}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Baseline == nil || r.Baseline.Status != 200 || r.Header == nil || r.Header.MaxAccepted < 4000 {
		t.Errorf("https: baseline %+v, header %+v", r.Baseline, r.Header)
	}
	// Without --insecure the self-signed certificate fails the handshake.
	if _, _, err := runProbeCmd(t, "--checks", "header", srv.URL+"/"); err == nil || !strings.Contains(err.Error(), "TLS handshake") {
		t.Errorf("https without --insecure: error %v", err)
	}
}
