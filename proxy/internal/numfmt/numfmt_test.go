package numfmt

import "testing"

func TestAppendDigits(t *testing.T) {
	for _, c := range []struct {
		n, width int
		want     string
	}{{0, 2, "00"}, {7, 2, "07"}, {59, 2, "59"}, {2026, 4, "2026"}, {123, 2, "123"}, {0, 1, "0"}, {5, 0, "5"}, {42, 6, "000042"}} {
		if got := string(AppendDigits([]byte("x"), c.n, c.width)); got != "x"+c.want {
			t.Errorf("AppendDigits(%d, %d) = %q, want %q", c.n, c.width, got, "x"+c.want)
		}
	}
}
