package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
)

// runUpstreamCmd runs `spillway args...` until the test cancels it. Lines
// of its stdout arrive on the channel, which is closed when it returns.
func runUpstreamCmd(t *testing.T, args ...string) (lines <-chan string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	root := newRootCmd()
	root.SetOut(pw)
	root.SetErr(io.Discard)
	root.SetArgs(args)
	done := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		pw.Close()
		done <- err
	}()
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			return errors.New("spillway upstream did not stop within 5s of its context")
		}
	}
	t.Cleanup(func() { _ = stop() })
	return ch, stop
}

var listeningRe = regexp.MustCompile(`^upstream (?:(\S+) )?listening on (127\.0\.0\.1:\d+): (.*)$`)

// nextListening reads lines until the next "upstream ... listening on" one.
func nextListening(t *testing.T, lines <-chan string) (name, addr, desc string) {
	t.Helper()
	for line := range lines {
		if m := listeningRe.FindStringSubmatch(line); m != nil {
			return m[1], m[2], m[3]
		}
	}
	t.Fatal("spillway upstream ended before listening")
	return
}

// rawGet sends one GET on a fresh connection and returns the response
// bytes and how the connection ended ("fin", "rst" or the error).
func rawGet(t *testing.T, addr, path string) (string, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	switch {
	case err == nil:
		return string(b), "fin"
	case errors.Is(err, syscall.ECONNRESET):
		return string(b), "rst"
	}
	return string(b), err.Error()
}

func TestUpstreamCommand(t *testing.T) {
	lines, stop := runUpstreamCmd(t, "upstream", "--listen", "127.0.0.1:0", "--behavior", "reset path=/r, status 503 path=/down")
	_, addr, desc := nextListening(t, lines)
	if desc != "reset path=/r, status 503 path=/down" {
		t.Errorf("description %q", desc)
	}
	if resp, end := rawGet(t, addr, "/ok"); !strings.HasPrefix(resp, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(resp, "\r\n\r\nok\n") || end != "fin" {
		t.Errorf("/ok: %q, %s", resp, end)
	}
	if resp, end := rawGet(t, addr, "/r"); resp != "" || end != "rst" {
		t.Errorf("/r: %q, %s; want nothing, then rst", resp, end)
	}
	if resp, _ := rawGet(t, addr, "/down"); !strings.HasPrefix(resp, "HTTP/1.1 503 ") {
		t.Errorf("/down: %q", resp)
	}
	resp, _ := rawGet(t, addr, "/__stats")
	_, js, _ := strings.Cut(resp, "\r\n\r\n")
	var st upstreamsim.Stats
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatalf("/__stats: %v in %q", err, resp)
	}
	if st.Total != 3 || st.Hits["GET /ok"] != 1 || st.Hits["GET /r"] != 1 || st.Hits["GET /down"] != 1 {
		t.Errorf("stats %+v", st)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	summary := strings.Join(rest, "\n")
	for _, want := range []string{addr + ": 3 requests on 4 connections", "1 GET /r"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
}

func TestUpstreamCommandScenario(t *testing.T) {
	file := filepath.Join(t.TempDir(), "scenario.yaml")
	scenario := "upstreams:\n" +
		"  - name: flaky\n    listen: 127.0.0.1:0\n    behaviors: \"fail_ratio 0.5 reset, idle_fin 5s\"\n" +
		"  - listen: 127.0.0.1:0\n    behaviors: [refuse]\n"
	if err := os.WriteFile(file, []byte(scenario), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, stop := runUpstreamCmd(t, "upstream", "-f", file)
	name, flaky, desc := nextListening(t, lines)
	if name != "flaky" || desc != "fail_ratio 0.5 reset, idle_fin 5s" {
		t.Errorf("first upstream: %q %q", name, desc)
	}
	// The refusing upstream holds its port (bound, never listened on) until
	// the command stops, so what it prints stays refused meanwhile.
	_, refused, _ := nextListening(t, lines)
	// fail_ratio 0.5 without a seed: the first request fails, the second not.
	if resp, end := rawGet(t, flaky, "/"); resp != "" || end != "rst" {
		t.Errorf("first: %q %s", resp, end)
	}
	if resp, _ := rawGet(t, flaky, "/"); !strings.HasPrefix(resp, "HTTP/1.1 200 OK") {
		t.Errorf("second: %q", resp)
	}
	if _, err := net.Dial("tcp", refused); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("refuse: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestUpstreamCommandErrors(t *testing.T) {
	for _, args := range [][]string{
		{"upstream", "--behavior", "frobnicate"},
		{"upstream", "--behavior", "idle_rst 1s path=/x"},
		{"upstream", "--behavior", "reset", "-f", "x.yaml"},
		{"upstream", "-f", filepath.Join(t.TempDir(), "missing.yaml")},
	} {
		root := newRootCmd()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs(args)
		if err := root.Execute(); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
