package difftest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"spillway/proxy/internal/testutil"
)

// TestBalanceDifferential proves that hash, hash ... consistent and
// ip_hash send each key to the same server as nginx: nginx and spillway
// run in front of the SAME upstream servers (one address each, so that the
// ketama ring, which hashes the servers' names, is the same on both sides),
// each server answers with its index, and every key is sent through both.
// Servers that are down, or refuse connections (and are then tried, or
// disabled by max_fails), exercise nginx's rehash loop; a request without
// the key, and a group where the method gives up after 20 draws, exercise
// the fall-back to weighted round-robin.
func TestBalanceDifferential(t *testing.T) {
	bin := nginxBin(t)
	keys := make([]string, 0, 150)
	for i := range 100 {
		keys = append(keys, "k"+strconv.Itoa(i))
	}
	for i := range 50 {
		keys = append(keys, fmt.Sprintf("/user/%d/profile", i*7919))
	}
	// ip_hash over many client addresses: realip takes them from X-Real-IP
	// (nginx's ip_hash hashes the address realip set).
	var ips []string
	for i := range 60 {
		ips = append(ips, fmt.Sprintf("10.%d.%d.%d", i*37%256, i*11%256, i))
	}
	for i := range 30 {
		ips = append(ips, fmt.Sprintf("2001:db8:%x::%x", i*7, i))
	}
	const never = "max_fails=0"      // a refused server stays in the group: tried, then the next draw
	const held = "fail_timeout=300s" // disabled after its first failure for the whole test
	for _, c := range []struct {
		name    string
		balance string
		servers []string // server parameters; "refused" first: a port that refuses connections
		keys    []string
		spread  int // at least this many servers must be used (the test can fail)
	}{
		{"hash", "hash $arg_k", []string{"", "", "", ""}, keys, 4},
		{"hash weights", "hash $arg_k", []string{"weight=3", "", "weight=2", ""}, keys, 4},
		{"hash down", "hash $arg_k", []string{"", "down", "weight=2", "", "down"}, keys, 3},
		{"hash refused tried", "hash $arg_k", []string{"", "refused " + never, "", "refused " + never}, keys, 2},
		{"hash refused disabled", "hash $arg_k", []string{"", "refused " + held, "weight=2", ""}, keys, 3},
		{"hash all down but one", "hash $arg_k", []string{"down", "down", "", "down"}, keys[:10], 1},
		{"hash no key: round-robin", "hash $arg_k", []string{"weight=2", "", ""}, []string{""}, 1},
		{"consistent", "hash $arg_k consistent", []string{"", "", "", ""}, keys, 4},
		{"consistent weights", "hash $arg_k consistent", []string{"weight=3", "", "weight=2", ""}, keys, 4},
		{"consistent down", "hash $arg_k consistent", []string{"", "down", "", "weight=2", "down"}, keys, 3},
		{"consistent refused", "hash $arg_k consistent", []string{"refused " + never, "", "refused " + held, ""}, keys, 2},
		{"consistent by uri", "hash $request_uri consistent", []string{"", "", ""}, keys, 3},
		{"ip_hash", "ip_hash", []string{"", "", "", ""}, keys[:5], 1},
		{"ip_hash weights", "ip_hash", []string{"weight=5", "", "weight=3"}, keys[:5], 1},
		{"ip_hash down", "ip_hash", []string{"down", "down", "", "", "down"}, keys[:5], 1},
		{"ip_hash refused", "ip_hash", []string{"refused " + never, "refused " + held, "", "", "refused " + never}, keys[:5], 1},
		{"ip_hash realip", "ip_hash", []string{"", "weight=2", "", ""}, ips, 4},
		{"ip_hash realip down refused", "ip_hash", []string{"", "down", "weight=3", "refused " + never, ""}, ips, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// nginx retries every refused connection; spillway's
			// retry_budget would stop some of them.
			s := &Scenario{Name: c.name, Balance: c.balance, SpillwayUpstream: []string{"retry_budget: off"}}
			if strings.Contains(c.name, "realip") {
				s.Directives = dirs("set_real_ip_from", "127.0.0.0/8", "real_ip_header", "X-Real-IP")
			}
			addrs := make([]string, len(c.servers))
			for i, p := range c.servers {
				if rest, ok := strings.CutPrefix(p, "refused"); ok {
					addr, release, err := testutil.RefusedPort(listenHost)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(release)
					addrs[i], p = addr, strings.TrimSpace(rest)
				} else {
					addrs[i] = indexServer(t, i)
				}
				s.Servers = append(s.Servers, Server{Params: p})
			}
			dir := t.TempDir()
			got := map[string][]string{}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for _, sd := range []side{nginxSide{bin: bin}, spillwaySide{}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					picks, err := balanceSide(s, sd, filepath.Join(dir, sd.name()), addrs, c.keys, t.Cleanup)
					if err != nil {
						t.Errorf("%s: %v", sd.name(), err)
					}
					mu.Lock()
					got[sd.name()] = picks
					mu.Unlock()
				}()
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			ng, sp := got["nginx"], got["spillway"]
			differ, used := 0, map[string]bool{}
			for i, k := range c.keys {
				used[ng[i]] = true
				if ng[i] != sp[i] {
					differ++
					if differ <= 5 {
						t.Errorf("key %q: nginx picked server %s, spillway %s", k, ng[i], sp[i])
					}
				}
			}
			if differ > 0 {
				t.Errorf("%d of %d keys on another server than nginx's", differ, len(c.keys))
			}
			if len(used) < c.spread {
				t.Errorf("nginx used servers %v, want at least %d: the case does not test what it says", used, c.spread)
			}
		})
	}
}

// balanceSide starts one side in front of addrs and sends every key
// (?k=KEY, nothing for "", X-Real-IP for an address), eight times for ""
// (round-robin's sequence), and returns the index of the server that
// answered each.
func balanceSide(s *Scenario, sd side, dir string, addrs, keys []string, cleanup Cleanup) ([]string, error) {
	for _, sub := range []string{"", "client", "proxy"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	r, err := sd.start(s, dir, addrs, cleanup)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var picks []string
	for _, k := range keys {
		target := "/?k=" + k
		if k == "" {
			target = "/"
		} else if strings.HasPrefix(k, "/") {
			target = k + "?k=" + k
		}
		rounds := 1
		if k == "" {
			rounds = 8
		}
		var got []string
		for range rounds {
			hr, _ := http.NewRequest("GET", "http://"+r.addr()+target, nil)
			if _, err := netip.ParseAddr(k); err == nil {
				hr.URL.RawQuery = ""
				hr.Header.Set("X-Real-IP", k)
			}
			resp, err := client.Do(hr)
			if err != nil {
				_ = r.stop()
				return nil, err
			}
			b, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				_ = r.stop()
				return nil, fmt.Errorf("%s: %d %q %v\n%s", target, resp.StatusCode, b, err, r.log())
			}
			got = append(got, string(b))
		}
		picks = append(picks, strings.Join(got, ","))
	}
	return picks, r.stop()
}

// indexServer starts an HTTP server on 127.0.0.1 that answers every request
// with i, and stops it when the test ends.
func indexServer(t *testing.T, i int) string {
	ln, err := net.Listen("tcp", listenHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strconv.Itoa(i))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}
