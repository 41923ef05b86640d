package nginxconf

import (
	"strings"
	"testing"
)

// index and auth_basic_user_file take variables spillway knows (kept as
// written: the request's value is used, a relative user file read from
// the conf prefix); one it does not know refuses the file.
func TestConvertIndexAndUserFileVariables(t *testing.T) {
	res, err := convertText(t, conf("listen 80; root /srv;\nlocation / { index $server_name.html ${arg_i}.htm;\nauth_basic x; auth_basic_user_file $arg_f; }"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"index: [$server_name.html, '${arg_i}.htm']", "auth_basic_user_file: $arg_f"} {
		if !strings.Contains(string(res.YAML), want) {
			t.Errorf("YAML lacks %q:\n%s", want, res.YAML)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"index $nosuch.html;", `"index" directive in location is not enforced by spillway (it does not know the variable "nosuch") in x.conf:5`},
		{"auth_basic x; auth_basic_user_file $nosuch;", `"auth_basic_user_file" directive in location is not enforced by spillway (it does not know the variable "nosuch": no password would be asked) in x.conf:5`},
	} {
		res, err := convertText(t, conf("listen 80; root /srv;\nlocation / { "+c.in+" }"))
		if got := refusedLines(t, res, err); len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: refused %q, want %q", c.in, got, c.want)
		}
	}
}
