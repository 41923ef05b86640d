package proxy

import (
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/vars"
)

// nginx's error_page (ngx_http_special_response_handler,
// ngx_http_send_error_page) and proxy_intercept_errors
// (ngx_http_upstream_intercept_errors).
//
// Every error spillway answers itself goes through page. When the error_page
// list in effect (the location's once one is chosen, else the server's) has
// the status, page answers nothing: it records the page, the step that
// failed returns as if it had answered, and serve's loop calls
// takeErrorPage, which
//
//	redirects to a URL       answers 302 (or "=301" etc.) with Location, here
//	@name                    enters the named location: method and $uri kept
//	/uri[?args]              internalRedirect: $uri and $args become the
//	                         target's, the method GET (HEAD stays), the
//	                         location is found again and an internal one
//	                         may answer
//
// and the phases run again. The final answer's status is the error's
// (nginx's r->err_status), "=NNN"'s, or with "=" alone the target's own.
// As in nginx, only the first error of a request may have its page unless
// recursive_error_pages is on (then the eleventh redirect is nginx's
// "rewrite or internal redirection cycle", a 500 without error page).

// errorPageState is what a request carries between passes through the
// phases; reset with the exchange.
type errorPageState struct {
	pending    *config.ErrorPage // chosen by page, carried out by takeErrorPage
	code       int               // the error the page answers
	used       bool              // nginx's r->error_page: no other page, unless recursive
	uriChanges int               // error-page redirects so far (the limit is the shared x.uriChanges)
	status     int               // nginx's r->err_status: the final status, 0 = the answer's own
	named      bool              // the phases restart at a named location's rewrite phase
	located    bool              // a location has been chosen: its error_page applies
	auth       []authHeader      // WWW-Authenticate of the access phase's 401s or an intercepted upstream 401, kept for the answer
	close      bool              // the error closes the client connection (400, 413, 500...), page or not
	newRun     bool              // the next upstream try starts a new run of $upstream_* (" : ")
}

// errorPages is the error_page list in effect: the location's once one is
// chosen, else the server's.
func (x *exchange) errorPages() *config.ErrorPages {
	if x.errPage.located && x.loc != nil {
		return &x.loc.conf.ErrorPages
	}
	return &x.vh.conf.ErrorPages
}

// errorPage reports whether code is answered by an error page, and records
// it for takeErrorPage.
func (x *exchange) errorPage(code int) bool {
	eps := x.errorPages()
	if x.errPage.used || len(eps.Pages) == 0 || x.uriChanges > maxInternalRedirects {
		return false
	}
	if !eps.Recursive {
		x.errPage.used = true // even when this code has no page: nginx's r->error_page
	}
	ep := eps.For(code)
	if ep == nil {
		return false
	}
	x.errPage.pending, x.errPage.code = ep, code
	x.errPage.close = x.errPage.close || closeAfter(code) // nginx's r->keepalive = 0, before the page
	return true
}

// takeErrorPage carries out the error page page chose. It returns true when
// the phases are to run again (an internal redirect or a named location);
// false when there was none, or it has answered (a URL, a redirect cycle).
func (x *exchange) takeErrorPage() bool {
	ep := x.errPage.pending
	if ep == nil {
		return false
	}
	x.errPage.pending = nil
	x.errPage.status = x.errPage.code
	if ep.Overwrite >= 0 {
		x.errPage.status = ep.Overwrite
	}
	target := x.errorPageTarget(ep)
	switch ep.Kind() {
	case config.ErrorPageURL:
		status := x.errPage.status
		switch status {
		case 301, 302, 303, 307, 308:
		default:
			status = fasthttp.StatusFound
		}
		x.builtinPage(status)
		x.ctx.Response.Header.Set("Location", target)
		return false
	case config.ErrorPageNamed:
		return x.namedRedirect(target)
	}
	if !x.ctx.IsHead() {
		x.ctx.Request.Header.SetMethod(fasthttp.MethodGet)
	}
	uri, args, _ := strings.Cut(target, "?")
	return x.errorPageRedirect(uri, args)
}

// errorPageTarget is ep's URI with its variables' values (config has
// checked that they exist; an error page is rare enough to compile them
// here).
func (x *exchange) errorPageTarget(ep *config.ErrorPage) string {
	if !strings.Contains(ep.URI, "$") {
		return ep.URI
	}
	v, err := vars.Compile(ep.URI, x.site.maps)
	if err != nil {
		return ep.URI
	}
	return string(v.Append(nil, x))
}

// errorPageRedirect is nginx's ngx_http_internal_redirect: $uri and $args
// become uri and args, the location is found again, and the phases start
// again at the server rewrite phase. It returns false when the redirect is
// one too many: the client then has nginx's 500.
func (x *exchange) errorPageRedirect(uri, args string) bool {
	if !x.countURIChange() {
		x.redirectLog("rewrite or internal redirection cycle while internally redirecting to \"" + uri + "\"")
		x.page(fasthttp.StatusInternalServerError)
		return false
	}
	x.setPath(uri, "")
	x.args = append(x.args[:0], args...) // "" too: the request's arguments are gone
	x.vars.req.Args = bstr(x.args)
	x.redirected = true
	x.internal = true // an internal location is reachable now (nginx's r->internal)
	x.errPage.named = false
	x.restart(x.vh.match(x.path))
	return true
}

// namedRedirect is nginx's ngx_http_named_location: the phases start again
// at the named location's rewrite phase, with the request as it is.
func (x *exchange) namedRedirect(name string) bool {
	if !x.countURIChange() {
		x.redirectLog("rewrite or internal redirection cycle while redirect to named location \"" + name + "\"")
		x.page(fasthttp.StatusInternalServerError)
		return false
	}
	loc := x.vh.named[name]
	if loc == nil {
		x.redirectLog("could not find named location \"" + name + "\"")
		x.page(fasthttp.StatusInternalServerError)
		return false
	}
	x.errPage.named = true
	x.internal = true
	x.restart(loc)
	return true
}

// countURIChange counts one internal redirect; false when it is the one
// nginx refuses as a cycle.
func (x *exchange) countURIChange() bool {
	x.errPage.uriChanges++ // error-page passes: one after the first skips the post-read phase and the limits
	x.uriChanges++         // shared with rewrite's internal redirects (rewrite.go): nginx's one r->uri_changes
	return x.uriChanges <= maxInternalRedirects
}

// restart puts loc in charge and forgets what the previous pass through the
// phases left: its answer, its upstream attempts' state (the attempts
// themselves stay for $upstream_*) and its location's variables.
func (x *exchange) restart(loc *location) {
	x.setLocation(loc) // rewrite.go
	x.errPage.located = false
	if x.cur != nil {
		x.release(x.cur, false)
		x.cur = nil
	}
	x.tried, x.tries, x.freeUsed, x.sameRetries, x.freshNext = x.tried[:0], 0, false, 0, nil
	x.errPage.newRun = true // the attempts stay, for $upstream_*, as a run of their own
	x.firstTry = time.Time{}
	if !x.keepUpstreamHead { // an X-Accel-Redirect's head stays for $upstream_http_NAME (xaccel.go)
		x.uresp.Reset()
	}
	x.keepUpstreamHead = false
	x.fcgi.recycle()
	x.ctx.Response.Reset()
	x.ctx.Response.Header.DisableNormalizing() // Reset forgets it: add_header's names as written
	x.status, x.bodyBytes = 0, 0
}

// refusedPage answers a request fasthttp could not parse (clientError) with
// the server's error_page for code, as nginx does: an exchange is made for
// it with what nginx knew of the request (f's line and host), and the page
// answers as any other's. It returns false, having done nothing, when the
// server has no page for code.
func (p *Proxy) refusedPage(ctx *fasthttp.RequestCtx, s *site, vh *vhost, f *errorlog.Fields, code int) bool {
	if vh.conf.ErrorPages.For(code) == nil {
		return false
	}
	p.requests.begin()
	p.stats.requests.Add(1)
	x := p.exchanges.Get().(*exchange)
	x.begin(p, s, ctx, []*vhost{vh}) // fasthttp has reset the request: "GET /"
	x.reqLine = append(x.reqLine[:0], f.Request...)
	x.host = append(x.host[:0], f.Host...)
	x.fields = *f
	x.fields.Request, x.fields.Host = bstr(x.reqLine), bstr(x.host)
	x.unwritten = true // logged before the loop writes it (takeSent)
	x.page(code)
	for x.takeErrorPage() {
		if x.process() {
			return true
		}
	}
	x.finish()
	return true
}

// authHeader is one WWW-Authenticate line an answer carries.
type authHeader struct{ key, value string }

// addWWWAuthenticate keeps an access check's 401 challenge for whatever
// answers the request: its page, or an error page's answer.
func (x *exchange) addWWWAuthenticate(value string) {
	x.errPage.auth = append(x.errPage.auth, authHeader{key: "WWW-Authenticate", value: value}) // as nginx writes it
}

// addAttempt records one upstream try for $upstream_*; the first after an
// internal redirect that follows other tries is listed after " : ", as
// nginx's ngx_http_upstream_init_request separates the runs.
func (x *exchange) addAttempt(a vars.Attempt) {
	if x.errPage.newRun {
		x.errPage.newRun = false
		a.Redirect = len(x.attempts) > 0
	}
	x.attempts = append(x.attempts, a)
}

// accessPhase is nginx's access phases for this pass through the phases:
// all of access the first time; after a redirect, as nginx, only allow/deny,
// auth_basic and auth_request for the new location (limit_req and
// limit_conn count a request once), and an internal location may answer.
func (x *exchange) accessPhase() bool {
	if x.errPage.uriChanges == 0 {
		return x.access()
	}
	if x.loc == nil {
		return x.checkAccess(&x.vh.conf.Access, x.vh.auth, x.vh.authRq, x.vh.conf.SatisfyAny)
	}
	return x.checkAccess(&x.loc.conf.Access, x.loc.auth, x.loc.authRq, x.loc.conf.SatisfyAny)
}

// interceptErrors is proxy_intercept_errors (fastcgi_intercept_errors): an
// upstream answer of 300 or more that the location's error_page lists is
// dropped, its connection closed (its body is never read; a HEAD's
// connection may be kept), and the error answered as spillway's own. A
// 401's WWW-Authenticate goes with the page.
func (x *exchange) interceptErrors() bool {
	status := x.uresp.Header.StatusCode()
	if !x.loc.conf.Upstream.InterceptErrors || status < 300 || x.loc.conf.ErrorPages.For(status) == nil {
		return false
	}
	if status == fasthttp.StatusUnauthorized {
		// The first, as nginx 1.22 (u->headers_in.www_authenticate); by
		// name in any case: the upstream head is not normalised.
		for k, v := range x.uresp.Header.All() {
			if strings.EqualFold(string(k), "WWW-Authenticate") {
				x.errPage.auth = append(x.errPage.auth[:0], authHeader{key: string(k), value: string(v)}) // nginx copies the header, name as sent
				break
			}
		}
	}
	x.release(x.cur, noBody(x.ctx.Request.Header.Method(), status))
	x.cur = nil
	x.page(status)
	return true
}

// answerStatus is the status an answer of its own status code goes out
// with: the error's when it answers an error page (nginx's err_status).
func (x *exchange) answerStatus(code int) int {
	if x.errPage.status != 0 {
		return x.errPage.status
	}
	return code
}

// pageHeaders adds what an answer carries from the error: the
// WWW-Authenticate of 401s, and the close of the connection after
// an error nginx closes on (without lingering_close: the page may be a
// file, which streams behind fasthttp's head).
func (x *exchange) pageHeaders() {
	if len(x.errPage.auth) > 0 {
		h := &x.ctx.Response.Header
		h.DisableNormalizing() // the names as given
		for _, a := range x.errPage.auth {
			h.Add(a.key, a.value)
		}
	}
	if x.errPage.close {
		x.ctx.SetConnectionClose()
	}
}

// lastModifiedDropped: nginx's header filter sends Last-Modified with 200,
// 206 and 304 only.
func lastModifiedDropped(name []byte, status int) bool {
	return status != 200 && status != 206 && status != 304 && strings.EqualFold(string(name), "Last-Modified")
}
