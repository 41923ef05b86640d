package proxy_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	bench "spillway/bench/upstreamsim"

	"spillway/proxy/internal/testutil"
)

// Request bodies stay in memory past client_body_buffer_size while the
// buffer budget allows, up to client_body_memory_max (spillway's own, a
// documented difference from nginx); they spill, with nginx's warn line, past
// the cap or when the budget refuses a chunk; a body in memory is replayed
// byte for byte on a retry.
func TestRequestBodyInMemoryUnderBudget(t *testing.T) {
	const spillLine = "a client request body is buffered to a temporary file "
	cases := []struct {
		name    string
		http    []string
		size    int
		spilled bool
	}{
		// 256 KiB: 16 times client_body_buffer_size, well inside the 64m budget.
		{"default_in_memory", nil, 256 << 10, false},
		// The budget is used up by this body alone: the refused chunk spills it.
		{"budget_refuses", []string{"buffer_memory_limit: 64k"}, 256 << 10, true},
		// Past the cap, the temp file, whatever the budget says.
		{"past_the_cap", []string{"client_body_memory_max: 128k"}, 256 << 10, true},
		// nginx's rule restored.
		{"cap_0_is_nginx", []string{"client_body_memory_max: 0"}, 24 << 10, true},
		// Past 512 KiB a body takes 256 KiB chunks (bodyChunkHuge): the
		// same rules, in memory, past the budget and past the cap.
		{"huge_chunks_in_memory", nil, 600 << 10, false},
		{"huge_chunks_budget_refuses", []string{"buffer_memory_limit: 256k"}, 600 << 10, true},
		{"huge_chunks_past_the_cap", []string{"client_body_memory_max: 300k"}, 600 << 10, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// PUT is idempotent: the first server resets, the second gets
			// the body again from byte 0.
			u0 := upstream(t, bench.Reset())
			u1 := upstream(t, bench.OK())
			d := newBTDirs(t)
			lines := append([]string{"client_body_buffer_size: 16k", "client_max_body_size: 1m"}, tc.http...)
			r := newRig(t, "warn", btYAML(d, 2, false, lines...), u0.Addr(), u1.Addr())
			body := btRandom(tc.size)
			status, got := r.do("PUT", "/echo", body)
			if status != 200 || !bytes.Equal(got, body) {
				t.Fatalf("PUT: %d, %d bytes back, identical=%v", status, len(got), bytes.Equal(got, body))
			}
			if u0.Hits("PUT", "/echo") != 1 || u1.Hits("PUT", "/echo") != 1 {
				t.Errorf("hits: first %d, second %d, want 1 and 1", u0.Hits("PUT", "/echo"), u1.Hits("PUT", "/echo"))
			}
			if bs := u1.Bodies("PUT", "/echo"); len(bs) != 1 || !bytes.Equal(bs[0], body) {
				t.Errorf("the retry did not carry the client's bytes")
			}
			log := r.log()
			if n := strings.Count(log, spillLine+d.client+"/0000000001,"); n != map[bool]int{true: 1}[tc.spilled] {
				t.Errorf("%d body temp file lines, want spilled=%v; log:\n%s", n, tc.spilled, log)
			}
			testutil.Eventually(t, "the body buffers to be released", 5*time.Second, func() bool {
				st := r.p.BufferStats()
				return st.FilesOpen == 0 && st.ChunksInUse == 0
			})
			if st := r.p.BufferStats(); (st.FilesCreated > 0) != tc.spilled {
				t.Errorf("temp files created: %d, want spilled=%v (%+v)", st.FilesCreated, tc.spilled, st)
			}
			btEmptyDir(t, d.client)
		})
	}
}
