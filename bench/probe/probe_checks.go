package probe

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// keepaliveRequests sends requests on one connection until the upstream
// closes it or RequestsMax is reached.
func (p *prober) keepaliveRequests(ctx context.Context) *RequestsResult {
	r := &RequestsResult{}
	defer p.prog.set("requests", "")
	pc, _, err := p.dial(ctx)
	if err != nil {
		return nil
	}
	defer pc.close()
	for i := 1; i <= p.cfg.RequestsMax; i++ {
		if i > 1 && p.pace.wait(ctx) != nil {
			return r
		}
		p.prog.set("requests", fmt.Sprintf("%d/%d on one connection", i, p.cfg.RequestsMax))
		r.Tried = i
		x, err := pc.do(ctx, p.request("GET"))
		if err != nil {
			if expired(ctx) {
				return r
			}
			r.Limit, r.Close = i-1, kindOf(err)
			return r
		}
		if x.resp.Close {
			r.Limit, r.Announced = i, true
			r.Close = pc.closeAfter(2 * time.Second)
			return r
		}
	}
	return r
}

// idle finds the idle keepalive timeout. One connection is watched
// passively: a timer-driven close shows up as EOF (FIN) or ECONNRESET (RST)
// the moment it happens. What matters to a proxy, though, is what a request
// sent on a connection idle for t gets, so the timeout is then bracketed by
// bisection with such reuse tests (four in parallel per round), starting
// around the observed close, or over [IdleMin, IdleMax] when the upstream
// drops idle connections without telling.
func (p *prober) idle(ctx context.Context) *IdleResult {
	r := &IdleResult{}
	defer p.prog.set("idle", "")
	budget := time.Until(deadlineOf(ctx))
	// Leave time for one reuse round after the passive watch.
	hi := min(p.cfg.IdleMax, budget*10/23)
	if hi <= p.cfg.IdleMin {
		r.Note = "no time left for the idle check (raise --max-time)"
		return r
	}

	// The passive watch, and one reuse test at hi in parallel: if nothing
	// closes the watched connection, that test tells a silent drop from no
	// timeout at all without costing time.
	type verdict struct {
		alive bool
		kind  string
	}
	atHi := make(chan verdict, 1)
	hiCtx, cancelHi := context.WithCancel(ctx)
	defer cancelHi()
	go func() {
		alive, kind, err := p.reuseAfter(hiCtx, hi)
		if err != nil {
			kind = "error: " + err.Error()
		}
		atHi <- verdict{alive, kind}
	}()

	observed, kind, err := p.watchIdle(ctx, hi)
	if err != nil {
		r.Note = "idle watch failed: " + err.Error()
		if expired(ctx) {
			r.Note = "out of time while watching"
		}
		cancelHi()
		<-atHi
		return r
	}
	var lo, top time.Duration
	loKnown, hiKnown := false, false
	if observed > 0 {
		cancelHi()
		<-atHi
		r.Observed, r.Close = Duration(observed), kind
		lo, top = observed*9/10, observed*11/10
	} else {
		v := <-atHi
		switch {
		case expired(ctx):
			r.Note = "out of time while watching"
			return r
		case v.alive:
			r.Lo, r.Note = Duration(hi), "no idle close within "+fmtDur(hi)
			return r
		case v.kind != CloseRST && v.kind != CloseFIN:
			r.Note = "reuse test failed: " + v.kind
			return r
		}
		// The upstream forgets idle connections without closing them.
		r.Reuse = v.kind
		lo, top, hiKnown = p.cfg.IdleMin, hi, true
	}
	r.Lo, r.Hi = Duration(lo), Duration(top)

	for round := 1; ; round++ {
		// Stop at a 10% bracket: the midpoint is then within 5%.
		if loKnown && hiKnown && float64(top)/float64(lo) <= 1.1 {
			break
		}
		// Four reuse tests per round: the bracket's untested ends, and
		// geometrically spaced points inside it.
		var points []time.Duration
		if !loKnown {
			points = append(points, lo)
		}
		k := 4 - boolInt(!loKnown) - boolInt(!hiKnown)
		ratio := float64(top) / float64(lo)
		for i := 1; i <= k; i++ {
			points = append(points, time.Duration(float64(lo)*math.Pow(ratio, float64(i)/float64(k+1))))
		}
		if !hiKnown {
			points = append(points, top)
		}
		if time.Until(deadlineOf(ctx)) < top+time.Second {
			r.Note = "bisection stopped by --max-time"
			break
		}
		p.prog.set("idle", fmt.Sprintf("bisecting [%s, %s], round %d: reuse after %s", fmtDur(lo), fmtDur(top), round, fmtDurs(points)))
		alive := make([]bool, len(points))
		kinds := make([]string, len(points))
		var wg sync.WaitGroup
		for i, t := range points {
			wg.Go(func() {
				a, k, err := p.reuseAfter(ctx, t)
				if err != nil {
					k = "error"
				}
				alive[i], kinds[i] = a, k
			})
		}
		wg.Wait()
		if expired(ctx) {
			r.Note = "bisection stopped by --max-time"
			break
		}
		// New bracket: the last success below the first failure.
		firstDead := -1
		for i := range points {
			if !alive[i] {
				if kinds[i] != CloseRST && kinds[i] != CloseFIN {
					r.Note = "reuse test failed: " + kinds[i]
					return r
				}
				firstDead = i
				r.Reuse = kinds[i]
				break
			}
		}
		switch {
		case firstDead == 0 && !loKnown:
			// Dead already at the low end: search below it.
			if lo <= p.cfg.IdleMin {
				r.Found, r.Lo, r.Hi, r.Timeout = true, 0, Duration(lo), Duration(lo)
				r.Note = "reuse fails even after " + fmtDur(lo)
				return r
			}
			top, hiKnown = lo, true
			lo = max(p.cfg.IdleMin, lo/4)
		case firstDead < 0:
			// Alive at every point, even the top: the close seen was not
			// what a reusing client meets; search above.
			lo, loKnown = points[len(points)-1], true
			if !hiKnown {
				if lo >= p.cfg.IdleMax {
					r.Lo, r.Hi = Duration(lo), 0
					r.Note = "connections closed while idle still accepted requests up to " + fmtDur(lo)
					return r
				}
				top = min(p.cfg.IdleMax, lo*2)
			}
		default:
			if firstDead > 0 {
				lo, loKnown = points[firstDead-1], true
			}
			top, hiKnown = points[firstDead], true
		}
		r.Lo, r.Hi = Duration(lo), Duration(top)
	}
	if hiKnown && loKnown {
		r.Found = true
		r.Timeout = Duration(math.Sqrt(float64(lo) * float64(top)))
		if observed > 0 && observed >= lo && observed <= top {
			r.Timeout = Duration(observed)
		}
	}
	return r
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fmtDurs(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = fmtDur(d)
	}
	return strings.Join(s, " ")
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(time.Hour)
}

// watchIdle makes one request, then blocks reading the idle connection for
// up to max. It returns when and how the upstream closed it (0 if it did not).
func (p *prober) watchIdle(ctx context.Context, max time.Duration) (time.Duration, string, error) {
	pc, _, err := p.dial(ctx)
	if err != nil {
		return 0, "", err
	}
	defer pc.close()
	x, err := pc.do(ctx, p.request("GET"))
	if err != nil {
		return 0, "", fmt.Errorf("request: %s", kindOf(err))
	}
	if x.resp.Close {
		return 0, "", fmt.Errorf("the upstream did not keep the connection")
	}
	t0 := time.Now()
	_ = pc.c.SetReadDeadline(t0.Add(max))
	stop := context.AfterFunc(ctx, func() { _ = pc.c.SetReadDeadline(time.Now()) })
	defer stop()
	watching := make(chan struct{})
	defer close(watching)
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-watching:
				return
			case <-t.C:
				p.prog.set("idle", fmt.Sprintf("watching an idle connection: %s of %s", fmtDur(time.Since(t0).Truncate(100*time.Millisecond)), fmtDur(max)))
			}
		}
	}()
	_, err = pc.br.ReadByte()
	d := time.Since(t0)
	switch k := kindOf(err); k {
	case CloseFIN, CloseRST:
		return d, k, nil
	case CloseTimeout:
		return 0, "", nil
	case "":
		return 0, "", fmt.Errorf("unsolicited bytes on an idle connection")
	default:
		return 0, "", fmt.Errorf("%s", k)
	}
}

// reuseAfter makes one request, leaves the connection idle for t and makes
// another. alive means the second one was answered; otherwise kind says
// how it failed.
func (p *prober) reuseAfter(ctx context.Context, t time.Duration) (alive bool, kind string, err error) {
	pc, _, err := p.dial(ctx)
	if err != nil {
		return false, "", err
	}
	defer pc.close()
	x, err := pc.do(ctx, p.request("GET"))
	if err != nil {
		return false, "", fmt.Errorf("first request: %s", kindOf(err))
	}
	if x.resp.Close {
		return false, "", fmt.Errorf("the upstream did not keep the connection")
	}
	if err := sleepCtx(ctx, t); err != nil {
		return false, "", err
	}
	// Not paced: waiting for a slot would lengthen the idle time.
	if _, err := pc.do(ctx, p.request("GET")); err != nil {
		if expired(ctx) {
			return false, "", errOutOfTime
		}
		return false, kindOf(err), nil
	}
	return true, "", nil
}

// headerLimit finds the largest request head the upstream accepts, growing
// one padding header exponentially and then bisecting to 1%.
func (p *prober) headerLimit(ctx context.Context) *HeaderResult {
	defer p.prog.set("header", "")
	base := len(p.request("GET", "X-Spillway-Pad: "))
	r := &HeaderResult{MaxAccepted: len(p.request("GET")), LineOverhead: base - len("X-Spillway-Pad: \r\n")}
	try := func(size int) (bool, string) {
		p.prog.set("header", fmt.Sprintf("request head of %s", fmtBytes(int64(size))))
		req := p.request("GET", "X-Spillway-Pad: "+strings.Repeat("a", size-base))
		pc, _, err := p.dial(ctx)
		if err != nil {
			return false, kindOf(err)
		}
		defer pc.close()
		r.Tried = max(r.Tried, size)
		x, err := pc.do(ctx, req)
		if err != nil {
			return false, kindOf(err)
		}
		switch c := x.resp.StatusCode; c {
		case 400, 413, 414, 431, 494:
			return false, strconv.Itoa(c)
		}
		return true, ""
	}
	lo, hi := r.MaxAccepted, 0
	for size := 4096; ; size *= 2 {
		size = min(size, p.cfg.HeaderMax)
		ok, why := try(size)
		if expired(ctx) {
			return r
		}
		if !ok {
			hi, r.Reject = size, why
			break
		}
		lo = size
		if size >= p.cfg.HeaderMax {
			break
		}
	}
	for hi > 0 && hi-lo > max(16, lo/100) {
		mid := (lo + hi) / 2
		ok, why := try(mid)
		if expired(ctx) {
			break
		}
		if ok {
			lo = mid
		} else {
			hi, r.Reject = mid, why
		}
	}
	r.MaxAccepted, r.FirstRejected = lo, hi
	return r
}

// unreadBody sends a body of at least 4 MiB right behind the head (as a
// proxy does) to an upstream that answers without reading it, and says how
// the connection ended. Closing with unread bytes in its socket makes the
// upstream's kernel send RST instead of FIN; the body must be larger than
// the socket buffers absorb for the sender to meet it. It returns the size
// sent and the status that came back (0: none): the larger body may get
// another answer than the early one (nginx answers 405 to a POST on a
// static file, but 413 to one over client_max_body_size).
func (p *prober) unreadBody(ctx context.Context, size int64) (sent int64, status int, end string) {
	p.prog.set("body", "a large body sent with the head")
	size = max(size, min(4<<20, p.cfg.BodyMax))
	o := p.postBody(ctx, size, 0, false)
	switch {
	case o.writeErr == CloseRST:
		return size, o.status, CloseRST // sending the rest of the body hit the reset
	case o.status == 0:
		return size, 0, o.kind
	}
	return size, o.status, o.afterClose
}

// bodyOutcome is the fate of one request body.
type bodyOutcome struct {
	status      int    // 0: no response
	kind        string // how it failed (no response), or ""
	early       bool   // the response came before any body byte was sent
	afterClose  string // how the connection ended after an answer with Connection: close
	sentAtReply int64  // body bytes sent when the response arrived
	writeErr    string // how sending the body failed, if it did
}

// rejected says whether the body was refused because of its size.
func (o bodyOutcome) rejected() bool { return o.status == 413 || o.status == 0 }

func (o bodyOutcome) reject() string {
	if o.status != 0 {
		return strconv.Itoa(o.status)
	}
	return o.kind
}

// bodyLimit sends POST bodies of growing size and bisects (on a log scale,
// to 5%) between the largest accepted and the smallest refused.
func (p *prober) bodyLimit(ctx context.Context, firstByte time.Duration) *BodyResult {
	defer p.prog.set("body", "")
	// Long enough for an upstream that answers at once to have done so.
	early := min(max(10*firstByte, 200*time.Millisecond), time.Second)
	r := &BodyResult{}
	try := func(size int64) bodyOutcome {
		p.prog.set("body", "POST body of "+fmtBytes(size))
		r.Tried = max(r.Tried, size)
		o := p.postBody(ctx, size, early, true)
		if o.early && !r.Early {
			r.Early, r.EarlyStatus, r.AfterEarly = true, o.status, o.afterClose
			r.UnreadSize, r.UnreadStatus, r.Unread = p.unreadBody(ctx, size)
		}
		return o
	}
	first := try(1024)
	if expired(ctx) {
		return nil
	}
	r.Status = first.status
	if first.rejected() {
		r.FirstRejected, r.Reject = 1024, first.reject()
		return r
	}
	// A path that does not take POSTs (405, 501, ...) is searched all the
	// same: a size limit enforced before routing (nginx's
	// client_max_body_size) still answers 413 or resets, and only those
	// count as refusals.
	lo, hi := int64(1024), int64(0)
	for size := int64(8192); ; size *= 8 {
		size = min(size, p.cfg.BodyMax)
		o := try(size)
		if expired(ctx) {
			break
		}
		if o.rejected() {
			hi, r.Reject = size, o.reject()
			break
		}
		lo = size
		if size >= p.cfg.BodyMax {
			break
		}
	}
	for hi > 0 && float64(hi)/float64(lo) > 1.05 && !expired(ctx) {
		mid := int64(math.Sqrt(float64(lo) * float64(hi)))
		o := try(mid)
		if expired(ctx) {
			break // a body cut short by --max-time says nothing about the limit
		}
		if o.rejected() {
			hi, r.Reject = mid, o.reject()
		} else {
			lo = mid
		}
	}
	r.MaxAccepted, r.FirstRejected = lo, hi
	return r
}

// postBody sends a POST with a body of size bytes: the head, a pause of
// early to see whether the upstream answers before the body, then the body
// while a reader watches for the response. With stopOnAnswer the body is cut
// short once an answer arrives (as a client would); without it all of it is
// sent (as nginx does).
func (p *prober) postBody(ctx context.Context, size int64, early time.Duration, stopOnAnswer bool) bodyOutcome {
	pc, _, err := p.dial(ctx)
	if err != nil {
		return bodyOutcome{kind: kindOf(err)}
	}
	defer pc.close()
	p.requests.Add(1)
	deadline := time.Now().Add(p.cfg.Timeout)
	_ = pc.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = pc.c.SetDeadline(time.Now()) })
	defer stop()

	var sent sync.Mutex // guards o.sentAtReply vs the writer's count
	var written int64
	o := bodyOutcome{}
	answered := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		resp, err := http.ReadResponse(pc.br, nil)
		sent.Lock()
		o.sentAtReply = written
		sent.Unlock()
		if err != nil {
			o.kind = kindOf(err)
		} else {
			o.status = resp.StatusCode
		}
		close(answered) // publishes o.status and o.kind to the writer
		if err != nil {
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		if err != nil {
			o.afterClose = kindOf(err)
		} else if resp.Close {
			o.afterClose = pc.closeAfter(time.Second)
		}
	}()

	head := p.request("POST", "Content-Type: application/octet-stream", "Content-Length: "+strconv.FormatInt(size, 10))
	if _, err := pc.w.Write(head); err != nil {
		pc.close()
		<-finished
		if o.kind == "" {
			o.kind = kindOf(err)
		}
		return o
	}
	if early > 0 {
		select {
		case <-answered:
			o.early = o.status != 0 // an answer, not just a reset
		case <-time.After(early):
		case <-ctx.Done():
		}
	}
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'b'
	}
	var writeErr error
	for left := size; left > 0 && writeErr == nil; {
		if stopOnAnswer {
			select {
			case <-answered:
				left = 0 // stop sending, like a client that got its answer
				continue
			default:
			}
		}
		n := min(left, int64(len(chunk)))
		_, writeErr = pc.w.Write(chunk[:n])
		sent.Lock()
		written += n
		sent.Unlock()
		left -= n
	}
	<-finished
	o.writeErr = kindOf(writeErr)
	if o.status == 0 && o.kind == "" && writeErr != nil {
		o.kind = kindOf(writeErr)
	}
	if o.status == 0 && writeErr != nil && kindOf(writeErr) == CloseRST {
		o.kind = CloseRST // the write saw the reset first; the read may only see EOF
	}
	return o
}

// pipeline sends two GETs in one write.
func (p *prober) pipeline(ctx context.Context) *PipelineResult {
	r := &PipelineResult{}
	p.prog.set("pipeline", "two requests in one write")
	defer p.prog.set("pipeline", "")
	pc, _, err := p.dial(ctx)
	if err != nil {
		return nil
	}
	defer pc.close()
	if err := p.pace.wait(ctx); err != nil {
		return nil
	}
	req := p.request("GET")
	p.requests.Add(1)
	x, err := pc.do(ctx, slices.Concat(req, req))
	if err != nil {
		if expired(ctx) {
			return nil // cut short by --max-time: no finding
		}
		r.Close = kindOf(err)
		return r
	}
	r.Answered = 1
	if x.resp.Close {
		r.Note = "first answer has Connection: close"
		r.Close = pc.closeAfter(time.Second)
		return r
	}
	if _, err := pc.read(time.Now(), 0, req); err != nil {
		if expired(ctx) {
			return nil
		}
		r.Close = kindOf(err)
		return r
	}
	r.Answered = 2
	return r
}

// expect sends a POST with Expect: 100-continue and waits up to 1s (curl's
// wait) before sending the body anyway.
func (p *prober) expect(ctx context.Context) *ExpectResult {
	r := &ExpectResult{}
	p.prog.set("expect", "Expect: 100-continue")
	defer p.prog.set("expect", "")
	pc, _, err := p.dial(ctx)
	if err != nil {
		return nil
	}
	defer pc.close()
	p.requests.Add(1)
	body := strings.Repeat("e", 1024)
	head := p.request("POST", "Content-Type: application/octet-stream", "Content-Length: 1024", "Expect: 100-continue")
	t0 := time.Now()
	if _, err := pc.w.Write(head); err != nil {
		return nil
	}
	_ = pc.c.SetReadDeadline(t0.Add(time.Second))
	_, err = pc.br.Peek(1)
	r.Wait = Duration(time.Since(t0))
	if expired(ctx) {
		return nil // cut short by --max-time: no finding
	}
	_ = pc.c.SetDeadline(time.Now().Add(p.cfg.Timeout))
	stop := context.AfterFunc(ctx, func() { _ = pc.c.SetDeadline(time.Now()) })
	defer stop()
	if kindOf(err) == CloseTimeout {
		r.Ignored = true
	} else if err != nil {
		r.Status = 0
		return r
	}
	if !r.Ignored {
		resp, err := http.ReadResponse(pc.br, nil)
		if err != nil {
			return r
		}
		if resp.StatusCode != 100 {
			r.Early, r.Status = true, resp.StatusCode
			return r
		}
		r.Continue = true
	}
	if _, err := io.WriteString(pc.w, body); err != nil {
		return r
	}
	x, err := pc.read(time.Now(), 0, head)
	if err == nil {
		r.Status = x.resp.StatusCode
	} else if expired(ctx) {
		return nil
	}
	return r
}
