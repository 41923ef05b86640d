package config

import (
	"reflect"
	"strings"
	"testing"
)

// ParseErrorPage follows ngx_http_core_error_page: codes 300-599 but 499,
// an optional "=" or "=NNN" before the URI, and 494-497 answered as 400
// unless "=" says otherwise.
func TestParseErrorPage(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []ErrorPage
		err  string
	}{
		{in: "404 /404.html", want: []ErrorPage{{404, -1, "/404.html"}}},
		{in: "500 502 =200 /50x.html?a=1", want: []ErrorPage{{500, 200, "/50x.html?a=1"}, {502, 200, "/50x.html?a=1"}}},
		{in: "502 = @fb", want: []ErrorPage{{502, 0, "@fb"}}},
		{in: "404 =301 http://x/", want: []ErrorPage{{404, 301, "http://x/"}}},
		{in: "494 497 /bad", want: []ErrorPage{{494, 400, "/bad"}, {497, 400, "/bad"}}},
		{in: "494 =413 /bad", want: []ErrorPage{{494, 413, "/bad"}}},
		{in: "/x", err: "invalid number of arguments"},
		{in: "= /x", err: `invalid value "="`},
		{in: "404 =2x0 /x", err: `invalid value "=2x0"`},
		{in: "499 /x", err: `invalid value "499"`},
		{in: "200 /x", err: `value "200" must be between 300 and 599`},
		{in: "600 /x", err: `value "600" must be between 300 and 599`},
		{in: "abc /x", err: `invalid value "abc"`},
	} {
		got, err := ParseErrorPage(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseErrorPage(%q) error = %v, want %q", c.in, err, c.err)
		case c.err == "" && (err != nil || !reflect.DeepEqual(got, c.want)):
			t.Errorf("ParseErrorPage(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	if k := (ErrorPage{URI: "/x"}).Kind(); k != ErrorPageURI {
		t.Errorf("Kind(/x) = %v", k)
	}
	if k := (ErrorPage{URI: "@x"}).Kind(); k != ErrorPageNamed {
		t.Errorf("Kind(@x) = %v", k)
	}
	if k := (ErrorPage{URI: "https://x/"}).Kind(); k != ErrorPageURL {
		t.Errorf("Kind(https://x/) = %v", k)
	}
}

// A level that sets any error_page replaces the inherited list, as nginx's
// merge; recursive_error_pages and the intercept flags inherit one by one;
// fastcgi_intercept_errors is what a fastcgi_pass location intercepts by.
func TestErrorPageInheritance(t *testing.T) {
	c := mustLoad(t, `http:
  error_page: ["404 /404.html", "502 /50x.html"]
  recursive_error_pages: on
  proxy_intercept_errors: on
  upstreams:
    app:
      servers: [{address: 127.0.0.1:9001}]
  servers:
    - listen: ["127.0.0.1:8080"]
      error_page: "500 = @fb"
      locations:
        - path: /
          proxy_pass: http://app
        - path: /own/
          proxy_pass: http://app
          error_page: ["403 =200 /ok"]
          proxy_intercept_errors: off
        - path: /php/
          fastcgi_pass: 127.0.0.1:9000
          fastcgi_intercept_errors: on
        - path: "@fb"
          proxy_pass: http://app
    - listen: ["127.0.0.1:8081"]
      locations:
        - path: /
          proxy_pass: http://app
`)
	s0, s1 := c.Servers[0], c.Servers[1]
	if want := []ErrorPage{{500, 0, "@fb"}}; !reflect.DeepEqual(s0.ErrorPages.Pages, want) || !s0.ErrorPages.Recursive {
		t.Errorf("server 0 = %+v", s0.ErrorPages)
	}
	if l := s0.Locations[0]; !reflect.DeepEqual(l.ErrorPages.Pages, s0.ErrorPages.Pages) || !l.Upstream.InterceptErrors {
		t.Errorf("location / = %+v, intercept %v", l.ErrorPages, l.Upstream.InterceptErrors)
	}
	if l := s0.Locations[1]; !reflect.DeepEqual(l.ErrorPages.Pages, []ErrorPage{{403, 200, "/ok"}}) || l.Upstream.InterceptErrors || !l.ErrorPages.Recursive {
		t.Errorf("location /own/ = %+v, intercept %v", l.ErrorPages, l.Upstream.InterceptErrors)
	}
	if l := s0.Locations[2]; !l.Upstream.InterceptErrors {
		t.Errorf("location /php/: fastcgi_intercept_errors not taken")
	}
	if want := []ErrorPage{{404, -1, "/404.html"}, {502, -1, "/50x.html"}}; !reflect.DeepEqual(s1.ErrorPages.Pages, want) ||
		!reflect.DeepEqual(s1.Locations[0].ErrorPages.Pages, want) {
		t.Errorf("server 1 = %+v, location %+v", s1.ErrorPages, s1.Locations[0].ErrorPages)
	}
	if p := s0.Locations[0].ErrorPages.For(500); p == nil || p.URI != "@fb" {
		t.Errorf("For(500) = %+v", p)
	}
	if p := s0.Locations[0].ErrorPages.For(404); p != nil {
		t.Errorf("For(404) = %+v, want none (replaced)", p)
	}
}

// A bad error_page or an unknown variable in its URI is refused at its line.
func TestErrorPageErrors(t *testing.T) {
	_, err := load(t, withLocation(`error_page: ["404 /x", "200 /y"]`))
	wantError(t, err, loc0+".error_page", 10, `value "200" must be between 300 and 599`)
	_, err = load(t, withLocation(`error_page: "404 /x?u=$nosuch"`))
	wantError(t, err, loc0+".error_page", 10, "nosuch")
}
