//go:build linux

package proxy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spillway/bench/upstreamsim"
	"spillway/proxy/internal/testutil"
)

// mountTmpfs mounts a tmpfs of size at a new directory and unmounts it in
// Cleanup. Mounting needs CAP_SYS_ADMIN: without it the test skips, unless
// SPILLWAY_REQUIRE_TMPFS=1 (CI), which makes that a failure.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		if os.Getenv("SPILLWAY_REQUIRE_TMPFS") == "1" {
			t.Fatalf("mount -t tmpfs -o size=%s %s: %v, and SPILLWAY_REQUIRE_TMPFS=1", size, dir, err)
		}
		t.Skipf("cannot mount a tmpfs (%v): this test needs root or CAP_SYS_ADMIN; set SPILLWAY_REQUIRE_TMPFS=1 to make this a failure", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("umount %s: %v", dir, err)
		}
	})
	return dir
}

// fdsUnder counts this process's descriptors on files in dir (the proxy
// runs in the test process; unlinked temp files read "dir/N (deleted)").
func fdsUnder(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, dir+"/") {
			n++
		}
	}
	return n
}

// A full temp disk, or the temp_file_limit, does not fail responses. 50
// slow clients ask for 5 MiB each with proxy_temp_path on an 8 MiB tmpfs
// the test mounts, and do not read until every response has stopped
// spilling; then they read at their own (slow) pace. Every response must
// arrive whole and correct (nginx would truncate those whose temp file got
// ENOSPC), the limit must never be exceeded, the reason is logged once, and
// afterwards no temp file is open and the tmpfs is empty. With the limit
// used up, a request body that needs a temp file gets nginx's 500 and
// [crit] line, counted in the metrics.
func TestTempDiskFullStreams(t *testing.T) {
	const (
		clients = 50
		size    = 5 << 20
	)
	for _, c := range []struct {
		name  string
		limit int64 // temp_file_limit; 0: none, the tmpfs fills
		cause string
		line  *regexp.Regexp
	}{
		{"enospc", 0, "no_space", regexp.MustCompile(`\[warn\] 4242#4242: \*\d+ (pwrite|open)\(\) "[^"]+/\d{10}" failed \(28: No space left on device\): ` +
			`the response is relayed at the client's pace while reading upstream, client: 127\.0\.0\.1, server: localhost, request: "GET /size/5242880 HTTP/1\.1", upstream: "http://U0/size/5242880", host: "localhost"`)},
		{"limit", 4 << 20, "temp_file_limit", regexp.MustCompile(`\[warn\] 4242#4242: \*\d+ temp_file_limit 4194304 reached: ` +
			`the response is relayed at the client's pace while reading upstream, client: 127\.0\.0\.1, server: localhost, request: "GET /size/5242880 HTTP/1\.1", upstream: "http://U0/size/5242880", host: "localhost"`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmpfs := mountTmpfs(t, "8m")
			d := btDirs{proxy: tmpfs, client: filepath.Join(tmpfs, "client")}
			if err := os.Mkdir(d.client, 0o700); err != nil {
				t.Fatal(err)
			}
			lines := []string{"proxy_buffers: 4 16k", "proxy_spill_grace: 0", "client_body_buffer_size: 8k", "client_body_memory_max: 0"}
			if c.limit > 0 {
				lines = append(lines, fmt.Sprintf("temp_file_limit: %d", c.limit))
			}
			u := upstream(t, upstreamsim.OK())
			r := newRig(t, "warn", "metrics: {listen: \"127.0.0.1:0\"}\n"+btYAML(d, 1, true, lines...), u.Addr())
			maddr := r.p.MetricsAddr()
			stopped := func() float64 {
				m := scrape(t, maddr)
				return m[`spillway_buffer_spill_stopped_total{cause="`+c.cause+`"}`]
			}

			type result struct {
				status int
				n      int64
				err    error
			}
			results := make([]result, clients)
			start := make(chan struct{})
			var sent, wg sync.WaitGroup
			sent.Add(clients)
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					conn := btDialSlow(t, r.addr)
					resp, br := btGetNoFatal(conn, fmt.Sprintf("/size/%d", size))
					sent.Done()
					if resp == nil {
						results[i] = result{err: errors.New("no response head")}
						return
					}
					<-start // read only once every response has stopped spilling
					// Now at a slow client's pace, but not a crawl: a
					// larger receive buffer, and a deadline for 5 MiB.
					_ = conn.SetReadBuffer(256 << 10)
					_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
					var v patternCheck
					_, err := io.CopyBuffer(&v, io.LimitReader(br, resp.ContentLength), make([]byte, 64<<10))
					results[i] = result{status: resp.StatusCode, n: v.n, err: err}
					_ = conn.Close()
				}()
			}
			sent.Wait()
			// Every response stops spilling, except one that found room
			// for its whole body (the disk, 8 MiB, holds one of 5 MiB;
			// the 4 MiB limit none).
			room := int64(8 << 20)
			if c.limit > 0 {
				room = c.limit
			}
			need := float64(clients - room/size)
			var last float64
			t0 := time.Now()
			for last = stopped(); last < need; last = stopped() {
				if time.Since(t0) > time.Minute {
					t.Fatalf("after a minute %v of %d responses stopped spilling, want %v; buffers %+v; tmpfs files open %d\n%.3000s",
						last, clients, need, r.p.BufferStats(), fdsUnder(t, tmpfs), r.log())
				}
				time.Sleep(10 * time.Millisecond)
			}
			st := r.p.BufferStats()
			if c.limit > 0 && st.TempBytes != c.limit {
				t.Errorf("temp files hold %d bytes with every response stopped, want the limit %d", st.TempBytes, c.limit)
			}
			if c.limit > 0 {
				// A request body that needs a temp file now: nginx's 500.
				status, _ := r.do("POST", "/echo", []byte(strings.Repeat("b", 64<<10)))
				if status != 500 {
					t.Errorf("POST with the temp_file_limit used up: %d, want 500", status)
				}
			}
			close(start)
			wg.Wait()
			for i, res := range results {
				if res.status != 200 || res.n != size || res.err != nil {
					t.Errorf("client %d: %d, %d of %d bytes (%v)", i, res.status, res.n, size, res.err)
				}
			}
			testutil.Eventually(t, "every temp file to be closed", 10e9, func() bool {
				st := r.p.BufferStats()
				return st.FilesOpen == 0 && st.TempBytes == 0 && fdsUnder(t, tmpfs) == 0
			})
			st = r.p.BufferStats()
			if c.limit > 0 && st.PeakTempBytes > c.limit {
				t.Errorf("temp files held %d bytes at their peak, over the limit %d", st.PeakTempBytes, c.limit)
			}
			var fs syscall.Statfs_t
			if err := syscall.Statfs(tmpfs, &fs); err != nil {
				t.Fatal(err)
			}
			if fs.Bfree != fs.Blocks {
				t.Errorf("tmpfs still has %d of %d blocks in use", fs.Blocks-fs.Bfree, fs.Blocks)
			}
			btEmptyDir(t, d.client)
			log := r.log()
			if n := len(c.line.FindAllString(log, -1)); n != 1 {
				t.Errorf("%d lines saying why the responses stopped spilling, want 1 (the next ones within a minute only count):\n%.3000s", n, log)
			}
			if strings.Contains(log, "[error]") {
				t.Errorf("an upstream or response failure was logged:\n%.3000s", log)
			}
			m := scrape(t, maddr)
			if c.limit > 0 {
				if !regexp.MustCompile(`\[crit\] 4242#4242: \*\d+ pwrite\(\) "[^"]+/client/\d{10}" failed \(28: No space left on device\), client: 127\.0\.0\.1, server: localhost, request: "POST /echo HTTP/1\.1", host: "PROXY"`).MatchString(log) {
					t.Errorf("no [crit] line for the refused request body:\n%.3000s", log)
				}
				if got := m[`spillway_buffer_request_body_refused_total{cause="temp_file_limit"}`]; got != 1 {
					t.Errorf("request bodies refused: %v, want 1", got)
				}
				if got := m[`spillway_buffer_temp_file_peak_bytes`]; got > float64(c.limit) || got == 0 {
					t.Errorf("peak temp bytes metric %v, limit %d", got, c.limit)
				}
			}
			t.Logf("%s: %d responses of %d bytes whole; peak temp bytes %d, temp files created %d; metrics: stopped %v",
				c.name, clients, size, st.PeakTempBytes, st.FilesCreated, m[`spillway_buffer_spill_stopped_total{cause="`+c.cause+`"}`])
		})
	}
}

// btGetNoFatal is btGet for a goroutine other than the test's: nil on error.
func btGetNoFatal(c io.ReadWriter, path string) (*http.Response, *bufio.Reader) {
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		return nil, nil
	}
	br := bufio.NewReaderSize(c, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil
	}
	return resp, br
}

// patternCheck is btBodyCheck a slab at a time: 250 MiB checked byte by
// byte under the race detector would take longer than moving them.
type patternCheck struct{ n int64 }

var patternSlab = []byte(strings.Repeat(btPattern, 1024))

func (v *patternCheck) Write(p []byte) (int, error) {
	for done := 0; done < len(p); {
		off := int(v.n % int64(len(btPattern)))
		k := min(len(p)-done, len(patternSlab)-off)
		if !bytes.Equal(p[done:done+k], patternSlab[off:off+k]) {
			var b btBodyCheck
			b.n = v.n
			_, err := b.Write(p[done : done+k]) // says where and what
			return done, err
		}
		done += k
		v.n += int64(k)
	}
	return len(p), nil
}
