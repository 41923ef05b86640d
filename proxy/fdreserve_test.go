package proxy

import (
	"os"
	"testing"
	"time"
)

// admit counts the descriptors only when the credit from the last count is
// spent, refuses within the reserve, and the episode (one logged line) ends
// only when a count finds room beyond the margin.
func TestFDReserveAdmit(t *testing.T) {
	open, counts := 0, 0
	clock := time.Unix(1e9, 0)
	r := &fdReserve{limit: 256, reserve: 64, wake: make(chan struct{}, 1),
		count: func() (int, bool) { counts++; return open, true },
		now:   func() time.Time { return clock }}

	open = 100 // room 92: 46 granted on credit after this count
	for i := range 47 {
		if !r.admit() {
			t.Fatalf("admit %d refused with %d open", i, open)
		}
	}
	if counts != 1 {
		t.Fatalf("%d counts for 47 admits, want 1 (credit)", counts)
	}
	// A count is trusted for creditTTL only: other descriptors come and go.
	open, r.credit = 150, 0
	r.admit()
	clock = clock.Add(creditTTL)
	open = 192
	if r.admit() {
		t.Fatal("admitted on a lapsed credit with only the reserve left")
	}
	open = 192 // limit - reserve: no room
	if r.admit() {
		t.Fatal("admitted with only the reserve left")
	}
	if !r.pause() || r.pause() {
		t.Fatal("want the first pause of an episode to report its start, the second not")
	}
	open = 190 // room 2: under the margin (16), still the same episode
	if !r.admit() {
		t.Fatal("refused with room left")
	}
	open, r.credit = 192, 0
	if r.admit() || r.pause() {
		t.Fatal("a short room in between started a new episode")
	}
	open = 150 // room 42: episode over
	if !r.admit() {
		t.Fatal("refused with room 42")
	}
	open, r.credit = 192, 0
	if r.admit() || !r.pause() {
		t.Fatal("want a new episode after the room came back")
	}
	r.closed()
	r.closed() // never blocks
	select {
	case <-r.wake:
	default:
		t.Fatal("closed did not wake")
	}
}

// On Linux the count is the process's descriptors: opening 32 more files
// counts 32 more. (Other tests' goroutines may open or close one meanwhile:
// it is enough that one of a few tries sees exactly 32.)
func TestOpenFDsCounts(t *testing.T) {
	if _, ok := openFDs(); !ok {
		t.Skip("no /proc/self/fd")
	}
	var got []int
	for range 10 {
		n, _ := openFDs()
		var fs []*os.File
		for range 32 {
			f, err := os.Open(os.DevNull)
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		}
		m, _ := openFDs()
		for _, f := range fs {
			_ = f.Close()
		}
		if m-n == 32 {
			return
		}
		got = append(got, m-n)
	}
	t.Fatalf("opening 32 files changed the count by %v, never by 32", got)
}
