package proxy

import (
	"container/list"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/vars"
)

// reqZone is one limit_req_zone: nginx's leaky buckets by key, in
// thousandths of a request, kept in LRU order and bounded by the zone's
// size. A reload keeps the state of a zone whose size and key are
// unchanged (its rate may change), as nginx keeps a shared memory zone.
type reqZone struct {
	name string
	size int64
	zoneKey

	mu    sync.Mutex
	rate  int64 // thousandths of a request per second
	nodes map[string]*list.Element
	lru   list.List // of *reqNode, most recently used first
	used  int64     // bytes the nodes would take in nginx's slab allocator
	epoch time.Time
}

// reqNode is one key's bucket (ngx_http_limit_req_node_t).
type reqNode struct {
	key    string
	excess int64 // thousandths of a request
	last   int64 // ms since the zone's epoch
	count  int   // requests between lookup and account (several limits)
}

// zoneOverhead is what nginx's slab allocator keeps for itself in a zone
// (its header and page descriptors, roughly); nodeCost is one node's
// slab chunk: the rbtree node, the limit_req node and the key, rounded up
// to a power of two, as nginx's allocator rounds small allocations.
const zoneOverhead = 8 * 4096

func nodeCost(key string) int64 {
	n := int64(32 + 48 + len(key))
	c := int64(8)
	for c < n {
		c <<= 1
	}
	return c
}

// limitZones builds the site's zones, keeping prev's state where the zone
// is the same.
func (s *site) limitZones(cfg *config.Config, prev *site) error {
	s.reqZones = map[string]*reqZone{}
	for name, zc := range cfg.LimitReqZones {
		if pz := prev.reqZone(name); pz != nil && pz.size == zc.Size && pz.keyText == zc.Key {
			pz.mu.Lock()
			pz.rate = zc.Rate
			pz.mu.Unlock()
			s.reqZones[name] = pz
			continue
		}
		k, err := newZoneKey(zc.Key, s.maps)
		if err != nil {
			return fmt.Errorf("limit_req_zone %s: %w", name, err)
		}
		s.reqZones[name] = &reqZone{name: name, size: zc.Size, zoneKey: k, rate: zc.Rate, nodes: map[string]*list.Element{}, epoch: time.Now()}
	}
	return nil
}

func (s *site) reqZone(name string) *reqZone {
	if s == nil {
		return nil
	}
	return s.reqZones[name]
}

// reqLimit is one limit_req of a level.
type reqLimit struct {
	zone *reqZone
	conf config.LimitReq
}

// reqLimits resolves a level's limit_req against the site's zones.
func (s *site) reqLimits(c config.LimitReqConf) []reqLimit {
	var out []reqLimit
	for _, l := range c.Limits {
		if z := s.reqZones[l.Zone]; z != nil {
			out = append(out, reqLimit{zone: z, conf: l})
		}
	}
	return out
}

// Results of a zone lookup (nginx's NGX_OK, NGX_AGAIN, NGX_BUSY,
// NGX_ERROR).
const (
	lookupOK = iota
	lookupAgain
	lookupBusy
	lookupError
)

// lookup is ngx_http_limit_req_lookup: the key's excess after draining
// since its last request plus this one; busy over the burst. account
// (the last limit of the level) records the new excess; otherwise the
// node is held (count) until account runs.
func (z *reqZone) lookup(key string, burst int64, account bool) (rc int, excess int64, node *reqNode) {
	now := time.Since(z.epoch).Milliseconds()
	if e, ok := z.nodes[key]; ok {
		n := e.Value.(*reqNode)
		z.lru.MoveToFront(e)
		ms := now - n.last
		if ms < -60000 {
			ms = 1
		} else if ms < 0 {
			ms = 0
		}
		excess = n.excess - z.rate*ms/1000 + 1000
		if excess < 0 {
			excess = 0
		}
		if excess > burst {
			return lookupBusy, excess, nil
		}
		if account {
			n.excess = excess
			if ms != 0 {
				n.last = now
			}
			return lookupOK, excess, nil
		}
		n.count++
		return lookupAgain, excess, n
	}
	cost := nodeCost(key)
	z.expire(now, 1)
	if z.used+cost > z.size-zoneOverhead {
		z.expire(now, 0)
		if z.used+cost > z.size-zoneOverhead {
			return lookupError, 0, nil
		}
	}
	n := &reqNode{key: key, last: now}
	z.nodes[key] = z.lru.PushFront(n)
	z.used += cost
	if account {
		return lookupOK, 0, nil
	}
	n.count = 1
	return lookupAgain, 0, n
}

// expire is ngx_http_limit_req_expire: with n == 1 it drops up to two
// least recently used nodes whose excess has drained and that were idle a
// minute; with n == 0 it drops the least recently used one regardless,
// then up to two such nodes.
func (z *reqZone) expire(now int64, n int) {
	for ; n < 3; n++ {
		e := z.lru.Back()
		if e == nil {
			return
		}
		node := e.Value.(*reqNode)
		if node.count > 0 {
			return
		}
		if n != 0 {
			ms := now - node.last
			if ms < 0 {
				ms = -ms
			}
			if ms < 60000 || node.excess-z.rate*ms/1000 > 0 {
				return
			}
		}
		z.lru.Remove(e)
		delete(z.nodes, node.key)
		z.used -= nodeCost(node.key)
	}
}

// limitReq is ngx_http_limit_req_handler, nginx's preaccess phase: every
// limit_req of the level in order, the first that refuses decides (503 or
// limit_req_status, "limiting requests, excess: ... by zone" at
// limit_req_log_level); a request within the burst is delayed as nginx
// delays it ("delaying request, excess: ..., by zone" one level lower),
// unless nodelay or delay= lets it through at once. With limit_req_dry_run
// it only logs. It returns the status to answer, or 0.
func (x *exchange) limitReq(limits []reqLimit, c *config.LimitReqConf) int {
	if len(limits) == 0 {
		return 0
	}
	rc, excess, n := lookupOK, int64(0), 0
	held := make([]*reqNode, len(limits))
	var key []byte
	looked := false // nginx's rc NGX_DECLINED: no key to look up, no $limit_req_status
	for n = 0; n < len(limits); n++ {
		l := limits[n]
		key = l.zone.appendKey(x, key[:0])
		if len(key) == 0 {
			rc = lookupOK // nginx skips an empty key
			continue
		}
		if len(key) > 65535 {
			x.logf(errorlog.Error, `the value of the "`+l.zone.keyText+`" key is more than 65535 bytes: "`+string(key)+`"`, 0, "")
			continue
		}
		l.zone.mu.Lock()
		rc, excess, held[n] = l.zone.lookup(string(key), l.conf.Burst, n == len(limits)-1)
		l.zone.mu.Unlock()
		looked = true
		if rc != lookupAgain {
			break
		}
	}
	if n == len(limits) {
		n--
	}
	if rc == lookupBusy || rc == lookupError {
		l := limits[n]
		if rc == lookupBusy {
			x.logf(c.LogLevel, "limiting requests"+dryRun(c)+", excess: "+thousandths(excess)+` by zone "`+l.zone.name+`"`, 0, "")
		} else {
			x.p.elog.Alertf(`could not allocate node in limit_req zone "%s"`, l.zone.name)
		}
		unhold(limits[:n], held)
		if c.DryRun {
			x.vars.req.LimitReqStatus = "REJECTED_DRY_RUN"
			return 0
		}
		x.vars.req.LimitReqStatus = "REJECTED"
		return c.Status
	}
	if rc == lookupAgain {
		excess = 0
	}
	delay, which := account(limits[:n+1], held, &excess)
	if delay <= 0 {
		if looked {
			x.vars.req.LimitReqStatus = "PASSED"
		}
		return 0
	}
	x.logf(c.DelayLogLevel(), "delaying request"+dryRun(c)+", excess: "+thousandths(excess)+`, by zone "`+limits[which].zone.name+`"`, 0, "")
	x.vars.req.LimitReqStatus = "DELAYED"
	if c.DryRun {
		x.vars.req.LimitReqStatus = "DELAYED_DRY_RUN"
	}
	if !c.DryRun {
		// A hard stop cuts the delay short (the request's context,
		// cancel.go); nothing sleeps in a request goroutine.
		t := time.NewTimer(time.Duration(delay) * time.Millisecond)
		select {
		case <-t.C:
		case <-x.context().Done():
		}
		t.Stop()
	}
	return 0
}

// account is ngx_http_limit_req_account: the delay the last limit asks,
// then the held nodes of the limits before it recorded, each asking its
// own delay; the longest wins (and names its zone and excess).
func account(limits []reqLimit, held []*reqNode, ep *int64) (maxDelay int64, which int) {
	last := len(limits) - 1
	which = last
	if l := limits[last]; !l.conf.NoDelay && *ep > l.conf.Delay {
		maxDelay = (*ep - l.conf.Delay) * 1000 / l.zone.rate
	}
	for i := last - 1; i >= 0; i-- {
		node := held[i]
		if node == nil {
			continue
		}
		z := limits[i].zone
		z.mu.Lock()
		now := time.Since(z.epoch).Milliseconds()
		ms := now - node.last
		if ms < -60000 {
			ms = 1
		} else if ms < 0 {
			ms = 0
		}
		excess := node.excess - z.rate*ms/1000 + 1000
		if excess < 0 {
			excess = 0
		}
		if ms != 0 {
			node.last = now
		}
		node.excess = excess
		node.count--
		rate := z.rate
		z.mu.Unlock()
		var delay int64
		if l := limits[i]; !l.conf.NoDelay && excess > l.conf.Delay {
			delay = (excess - l.conf.Delay) * 1000 / rate
		}
		if delay > maxDelay {
			maxDelay, *ep, which = delay, excess, i
		}
	}
	return maxDelay, which
}

// unhold releases the nodes held by the limits before a refusal
// (ngx_http_limit_req_unlock).
func unhold(limits []reqLimit, held []*reqNode) {
	for i, l := range limits {
		if held[i] != nil {
			l.zone.mu.Lock()
			held[i].count--
			l.zone.mu.Unlock()
		}
	}
}

// zoneKey is a zone's key (limit_req_zone, limit_conn_zone): a value with
// variables (proxy/vars), or $binary_remote_addr (the client's address in
// 4 or 16 bytes). A zone a reload keeps (same key text, same size) keeps
// its compiled key, and with it the maps of the configuration that made it.
type zoneKey struct {
	keyText    string
	key        *vars.Value // nil for $binary_remote_addr
	binaryAddr bool
}

func newZoneKey(text string, maps *vars.Maps) (zoneKey, error) {
	k := zoneKey{keyText: text}
	if text == "$binary_remote_addr" {
		k.binaryAddr = true
		return k, nil
	}
	v, err := vars.Compile(text, maps)
	k.key = v
	return k, err
}

// appendKey evaluates the key for the request ($http_NAME finds the
// client's header whatever its case, as nginx does: proxy/vars).
func (z *zoneKey) appendKey(x *exchange, dst []byte) []byte {
	if !z.binaryAddr {
		return z.key.Append(dst, x)
	}
	if x.clientIP.IsValid() { // the real client's, after realip (realip.go)
		return append(dst, x.clientIP.AsSlice()...)
	}
	return dst
}

func dryRun(c *config.LimitReqConf) string {
	if c.DryRun {
		return ", dry run"
	}
	return ""
}

// thousandths is nginx's "%ui.%03ui" of a value in thousandths.
func thousandths(v int64) string {
	f := strconv.FormatInt(v%1000, 10)
	return strconv.FormatInt(v/1000, 10) + "." + strings.Repeat("0", 3-len(f)) + f
}

// peekFold is the first header named name, compared without case.
func peekFold(h *fasthttp.RequestHeader, name string) []byte {
	for k, v := range h.All() {
		if strings.EqualFold(string(k), name) {
			return v
		}
	}
	return nil
}
