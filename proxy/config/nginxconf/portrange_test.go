package nginxconf

import (
	"strings"
	"testing"
)

// A port range in listen (nginx 1.22 takes it) is one listen address per
// port, with its parameters; nginx -t's errors for a bad range.
func TestConvertListenPortRange(t *testing.T) {
	res, err := convertText(t, conf("listen 127.0.0.1:8182-8184 default_server; listen [::1]:9000-9001; listen 7000-7001;\nlocation / { proxy_pass http://127.0.0.1:9; }"))
	if err != nil {
		t.Fatal(err)
	}
	want := "listen: ['127.0.0.1:8182 default_server', '127.0.0.1:8183 default_server', '127.0.0.1:8184 default_server', '[::1]:9000', '[::1]:9001', 7000, 7001]"
	if !strings.Contains(string(res.YAML), want) {
		t.Errorf("YAML lacks %s:\n%s", want, res.YAML)
	}
	for addr, msg := range map[string]string{
		"127.0.0.1:8183-8182":  `invalid port range in "127.0.0.1:8183-8182" of the "listen" directive in x.conf:4`,
		"127.0.0.1:8182-":      `invalid port in "127.0.0.1:8182-" of the "listen" directive in x.conf:4`,
		"127.0.0.1:0-5":        `invalid port in "127.0.0.1:0-5" of the "listen" directive in x.conf:4`,
		"127.0.0.1:8182-70000": `invalid port in "127.0.0.1:8182-70000" of the "listen" directive in x.conf:4`,
	} {
		_, err := convertText(t, conf("listen "+addr+"; location / { proxy_pass http://127.0.0.1:9; }"))
		if err == nil || err.Error() != msg {
			t.Errorf("%s: %v, want %s", addr, err, msg)
		}
	}
}
