//go:build race

package proxy_test

// raceEnabled: the test binary runs under the race detector (idleconns_test.go
// sizes its load by it).
const raceEnabled = true
