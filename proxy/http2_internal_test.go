package proxy

import (
	"net/http"
	"testing"
)

// The names write takes from h2CommonNames are what http.CanonicalHeaderKey
// would have made of them.
func TestH2CommonNamesCanonical(t *testing.T) {
	for k, v := range h2CommonNames {
		if c := http.CanonicalHeaderKey(k); c != v {
			t.Errorf("%q: %q, CanonicalHeaderKey says %q", k, v, c)
		}
	}
}
