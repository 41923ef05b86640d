package proxy

import (
	"fmt"
	"sync"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// connZone is one limit_conn_zone: the requests in flight per key, bounded
// by the zone's size. A reload keeps a zone whose size and key are
// unchanged, with its counts (the requests still running hold them).
type connZone struct {
	name string
	size int64
	zoneKey

	mu     sync.Mutex
	counts map[string]int
	used   int64
}

// connLimit is one limit_conn of a level.
type connLimit struct {
	zone *connZone
	conn int
}

// connHold is one count a request holds until it ends.
type connHold struct {
	zone *connZone
	key  string
}

// connZones builds the site's zones, keeping prev's where the zone is the
// same.
func (s *site) connZones(cfg *config.Config, prev *site) error {
	s.connZoneByName = map[string]*connZone{}
	for name, zc := range cfg.LimitConnZones {
		if prev != nil {
			if pz := prev.connZoneByName[name]; pz != nil && pz.size == zc.Size && pz.keyText == zc.Key {
				s.connZoneByName[name] = pz
				continue
			}
		}
		k, err := newZoneKey(zc.Key, s.maps)
		if err != nil {
			return fmt.Errorf("limit_conn_zone %s: %w", name, err)
		}
		s.connZoneByName[name] = &connZone{name: name, size: zc.Size, zoneKey: k, counts: map[string]int{}}
	}
	return nil
}

// connLimits resolves a level's limit_conn against the site's zones.
func (s *site) connLimits(c config.LimitConnConf) []connLimit {
	var out []connLimit
	for _, l := range c.Limits {
		if z := s.connZoneByName[l.Zone]; z != nil {
			out = append(out, connLimit{zone: z, conn: l.Conn})
		}
	}
	return out
}

// connNodeCost is a node's slab chunk in nginx: the rbtree node, the
// limit_conn node and the key, rounded up to a power of two.
func connNodeCost(key string) int64 { return nodeCost(key) - 32 }

// limitConn is ngx_http_limit_conn_handler (preaccess, after limit_req):
// for each limit_conn in order, a key already at its limit refuses the
// request (503 or limit_conn_status, "limiting connections by zone" at
// limit_conn_log_level) and releases what the earlier ones took; otherwise
// the request holds one count per zone until it ends (release). With
// limit_conn_dry_run it only logs, and stops counting. It returns the
// status to answer, or 0.
func (x *exchange) limitConn(limits []connLimit, c *config.LimitConnConf) (held []connHold, code int) {
	var key []byte
	for _, l := range limits {
		key = l.zone.appendKey(x, key[:0])
		if len(key) == 0 {
			continue
		}
		if len(key) > 255 {
			x.logf(errorlog.Error, `the value of the "`+l.zone.keyText+`" key is more than 255 bytes: "`+string(key)+`"`, 0, "")
			continue
		}
		x.vars.req.LimitConnStatus = "PASSED"
		z, k := l.zone, string(key)
		z.mu.Lock()
		n, ok := z.counts[k]
		if !ok && z.used+connNodeCost(k) > z.size-zoneOverhead {
			z.mu.Unlock()
			x.p.elog.Critf(`ngx_slab_alloc() failed: no memory in limit_conn zone "%s"`, z.name)
			release(held)
			x.vars.req.LimitConnStatus = "REJECTED"
			return nil, c.Status
		}
		if n >= l.conn {
			z.mu.Unlock()
			dry := ""
			if c.DryRun {
				dry = ", dry run," // nginx: "limiting connections, dry run, by zone"
			}
			x.logf(c.LogLevel, "limiting connections"+dry+` by zone "`+z.name+`"`, 0, "")
			release(held)
			if c.DryRun {
				x.vars.req.LimitConnStatus = "REJECTED_DRY_RUN"
				return nil, 0
			}
			x.vars.req.LimitConnStatus = "REJECTED"
			return nil, c.Status
		}
		if !ok {
			z.used += connNodeCost(k)
		}
		z.counts[k] = n + 1
		z.mu.Unlock()
		held = append(held, connHold{zone: z, key: k})
	}
	return held, 0
}

// release gives back the counts a request held (nginx's pool cleanup); a
// key whose count falls to zero leaves the zone.
func release(held []connHold) {
	for _, h := range held {
		z := h.zone
		z.mu.Lock()
		if n := z.counts[h.key] - 1; n > 0 {
			z.counts[h.key] = n
		} else {
			delete(z.counts, h.key)
			z.used -= connNodeCost(h.key)
		}
		z.mu.Unlock()
	}
}
