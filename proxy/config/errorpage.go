package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ErrorPage is one status of an error_page directive
// (ngx_http_core_error_page): when spillway answers that status itself, or
// an upstream sends it and proxy_intercept_errors / fastcgi_intercept_errors
// is on, the answer comes from URI instead.
//
// In proxy.yaml error_page is a list of strings, each nginx's arguments
// joined by spaces ("404 /404.html", "500 502 503 504 =200 /50x.html",
// "404 = @fallback", "403 http://example.com/forbidden.html"); one string
// alone is a list of one.
type ErrorPage struct {
	Code int
	// Overwrite is the status of the final answer: -1 (no "="), the
	// original Code; 0 ("=" alone), whatever the target answers; else the
	// "=NNN" code. For a URL target a code that is not a redirect (301,
	// 302, 303, 307, 308) means 302.
	Overwrite int
	// URI is the target as written (variables are compiled by proxy/vars):
	// a local URI ("/50x.html", with arguments after "?"), a named location
	// ("@fallback"), or anything else, a URL to redirect to.
	URI string
}

// ParseErrorPage parses one error_page with nginx's rules: codes between
// 300 and 599 (not 499), then an optional "=" or "=NNN", then the URI.
// nginx's internal codes for request errors answered as 400 (494 request
// header too large, 495-497 TLS) are answered as 400 unless "=" says
// otherwise.
func ParseErrorPage(s string) ([]ErrorPage, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return nil, fmt.Errorf("invalid number of arguments in %q: want \"code ... [=[response]] uri\"", s)
	}
	uri := f[len(f)-1]
	codes := f[:len(f)-1]
	overwrite := -1
	if last := codes[len(codes)-1]; strings.HasPrefix(last, "=") {
		if len(codes) == 1 {
			return nil, fmt.Errorf("invalid value %q", last)
		}
		overwrite = 0
		if len(last) > 1 {
			n, err := strconv.Atoi(last[1:])
			if err != nil || n < 0 || last[1] == '+' {
				return nil, fmt.Errorf("invalid value %q", last)
			}
			overwrite = n
		}
		codes = codes[:len(codes)-1]
	}
	var out []ErrorPage
	for _, c := range codes {
		n, err := strconv.Atoi(c)
		if err != nil || c[0] == '+' || c[0] == '-' || n == 499 {
			return nil, fmt.Errorf("invalid value %q", c)
		}
		if n < 300 || n > 599 {
			return nil, fmt.Errorf("value %q must be between 300 and 599", c)
		}
		ep := ErrorPage{Code: n, Overwrite: overwrite, URI: uri}
		if overwrite == -1 && n >= 494 && n <= 497 {
			ep.Overwrite = 400
		}
		out = append(out, ep)
	}
	return out, nil
}

// Kind tells the three kinds of target apart.
func (e ErrorPage) Kind() ErrorPageKind {
	switch {
	case strings.HasPrefix(e.URI, "/"):
		return ErrorPageURI
	case strings.HasPrefix(e.URI, "@"):
		return ErrorPageNamed
	}
	return ErrorPageURL
}

// ErrorPageKind is what an error_page's target is.
type ErrorPageKind uint8

const (
	ErrorPageURI   ErrorPageKind = iota // an internal redirect: the method becomes GET (HEAD stays)
	ErrorPageNamed                      // a named location: method and $uri unchanged
	ErrorPageURL                        // a redirect to the URL (Location), 302 unless "=301" etc.
)

// errorPagesFrom decodes error_page: one string or a list of them.
func errorPagesFrom(in any) ([]ErrorPage, error) {
	list, ok := in.([]any)
	if !ok {
		list = []any{in}
	}
	var out []ErrorPage
	for _, e := range list {
		s, err := stringFrom(e)
		if err != nil {
			return nil, err
		}
		eps, err := ParseErrorPage(s)
		if err != nil {
			return nil, err
		}
		out = append(out, eps...)
	}
	return out, nil
}

// errorPageDirectives are error_page and the directives that decide where
// it applies, in http, server and location. error_page is one directive
// here, so a level that sets any replaces the inherited list, as nginx's
// merge does.
type errorPageDirectives struct {
	ErrorPage           *opt[[]ErrorPage] `mapstructure:"error_page"`
	RecursiveErrorPages *opt[bool]        `mapstructure:"recursive_error_pages"`
}

func (d *errorPageDirectives) inherit(p *errorPageDirectives) {
	merge(&d.ErrorPage, p.ErrorPage)
	merge(&d.RecursiveErrorPages, p.RecursiveErrorPages)
}

// ErrorPages is a level's error_page list and recursive_error_pages.
type ErrorPages struct {
	Pages []ErrorPage
	// Recursive is recursive_error_pages (default off): an error while
	// answering an error page may itself be answered by an error page.
	Recursive bool
}

// For returns the error page for code, nil when the list has none.
func (e *ErrorPages) For(code int) *ErrorPage {
	for i := range e.Pages {
		if e.Pages[i].Code == code {
			return &e.Pages[i]
		}
	}
	return nil
}

func (d *errorPageDirectives) resolve() ErrorPages {
	return ErrorPages{Pages: d.ErrorPage.or(nil), Recursive: d.RecursiveErrorPages.or(false)}
}

func (d *errorPageDirectives) check(p *problems) {
	for _, ep := range d.ErrorPage.or(nil) {
		p.checkVariables(d.ErrorPage.at(), "error_page "+strconv.Itoa(ep.Code), ep.URI)
	}
}
