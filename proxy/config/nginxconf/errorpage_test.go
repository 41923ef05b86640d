package nginxconf

import (
	"reflect"
	"strings"
	"testing"

	"spillway/proxy/config"
)

// error_page converts at every level, one list entry per directive, with
// the flags around it; what the loader reads back is nginx's lists (a level
// that writes any replaces the inherited list).
func TestConvertErrorPage(t *testing.T) {
	in := "http {\n" +
		" error_page 500 502 503 504 /50x.html;\n" +
		" proxy_intercept_errors on;\n" +
		" server { listen 8080;\n" +
		"  error_page 404 /404.html;\n" +
		"  error_page 502 = @down;\n" +
		"  recursive_error_pages on;\n" +
		"  location = /50x.html { root /usr/share/nginx/html; }\n" +
		"  location / { proxy_pass http://127.0.0.1:9000; }\n" +
		"  location /php/ { fastcgi_pass 127.0.0.1:9001; fastcgi_intercept_errors on; error_page 403 =200 http://example.com/f; }\n" +
		"  location @down { proxy_pass http://127.0.0.1:9002; }\n" +
		" }\n" +
		" server { listen 8081; location / { proxy_pass http://127.0.0.1:9000; } }\n}\n"
	res, err := convertText(t, in)
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	if !strings.Contains(string(res.YAML), "error_page:\n        - 404 /404.html\n        - 502 = @down\n") {
		t.Errorf("server's error_page list not written as nginx's lines:\n%s", res.YAML)
	}
	cfg, err := config.LoadBytes("proxy.yaml", res.YAML)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, res.YAML)
	}
	s0, s1 := cfg.Servers[0], cfg.Servers[1]
	if want := []config.ErrorPage{{Code: 404, Overwrite: -1, URI: "/404.html"}, {Code: 502, Overwrite: 0, URI: "@down"}}; !reflect.DeepEqual(s0.ErrorPages.Pages, want) || !s0.ErrorPages.Recursive {
		t.Errorf("server 8080: %+v", s0.ErrorPages)
	}
	if l := s0.Locations[1]; !reflect.DeepEqual(l.ErrorPages, s0.ErrorPages) || !l.Upstream.InterceptErrors {
		t.Errorf("location /: %+v intercept %v", l.ErrorPages, l.Upstream.InterceptErrors)
	}
	if l := s0.Locations[2]; !reflect.DeepEqual(l.ErrorPages.Pages, []config.ErrorPage{{Code: 403, Overwrite: 200, URI: "http://example.com/f"}}) || !l.Upstream.InterceptErrors {
		t.Errorf("location /php/: %+v intercept %v", l.ErrorPages, l.Upstream.InterceptErrors)
	}
	if want := []config.ErrorPage{{Code: 500, Overwrite: -1, URI: "/50x.html"}, {Code: 502, Overwrite: -1, URI: "/50x.html"}, {Code: 503, Overwrite: -1, URI: "/50x.html"}, {Code: 504, Overwrite: -1, URI: "/50x.html"}}; !reflect.DeepEqual(s1.ErrorPages.Pages, want) {
		t.Errorf("server 8081: %+v", s1.ErrorPages)
	}
}

// nginx -t's errors for error_page; a target with a variable spillway
// lacks is reported and not converted.
func TestConvertErrorPageErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{conf("listen 80; location / { proxy_pass http://a:1; error_page 404; }"), `invalid number of arguments in "error_page" directive in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; error_page 200 /x; }"), `value "200" must be between 300 and 599 in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; error_page 499 /x; }"), `invalid value "499" in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; error_page = /x; }"), `invalid value "=" in x.conf:4`},
		{conf("listen 80; location / { proxy_pass http://a:1; error_page 404 =x /x; }"), `invalid value "=x" in x.conf:4`},
	} {
		_, err := convertText(t, c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: %v, want %s", c.in, err, c.want)
		}
	}
	res, err := convertText(t, conf("listen 80; location / { proxy_pass http://a:1; error_page 404 /x?$nosuch; }"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].String(), `unsupported error_page "404 /x?$nosuch" in location: spillway has no "$nosuch" variable`) {
		t.Errorf("warnings %v", res.Warnings)
	}
}
