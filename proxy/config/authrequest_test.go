package config

import (
	"reflect"
	"strings"
	"testing"
)

// auth_request and auth_request_set are inherited each on its own (a
// level that sets auth_request_set replaces the inherited list, as
// nginx's merge), "off" turns an inherited auth_request off, and the set
// variables are known to every value of the file, before or after the
// directive that sets them.
func TestAuthRequestDecodeAndInherit(t *testing.T) {
	text := strings.Replace(base, "http:\n", "http:\n  auth_request: /auth\n  auth_request_set: [\"$user $upstream_http_x_user\"]\n  access_log: {path: /tmp/a.log, format: '$user $email'}\n", 1) +
		"          proxy_set_header: {X-User: $user, X-Email: $email}\n" +
		"        - path: /own\n          proxy_pass: http://app\n          auth_request_set:\n            - $email $upstream_http_x_email\n            - {$USER: $upstream_status}\n" +
		"        - path: /off\n          proxy_pass: http://app\n          auth_request: \"off\"\n" +
		"        - path: = /auth\n          proxy_pass: http://app\n          internal: on\n          proxy_pass_request_body: off\n"
	c := mustLoad(t, text)
	locs := c.Servers[0].Locations
	want := AuthRequest{URI: "/auth", Set: []AuthRequestSet{{"user", "$upstream_http_x_user"}}}
	if !reflect.DeepEqual(locs[0].AuthRequest, want) || !reflect.DeepEqual(c.Servers[0].AuthRequest, want) {
		t.Errorf("inherited: %+v, server %+v; want %+v", locs[0].AuthRequest, c.Servers[0].AuthRequest, want)
	}
	want = AuthRequest{URI: "/auth", Set: []AuthRequestSet{{"email", "$upstream_http_x_email"}, {"user", "$upstream_status"}}}
	if !reflect.DeepEqual(locs[1].AuthRequest, want) {
		t.Errorf("own list: %+v, want %+v", locs[1].AuthRequest, want)
	}
	if locs[2].AuthRequest.URI != "" || len(locs[2].AuthRequest.Set) != 1 {
		t.Errorf("off: %+v, want no URI and the inherited list", locs[2].AuthRequest)
	}
	if locs[3].Upstream.PassRequestBody || !locs[0].Upstream.PassRequestBody {
		t.Errorf("proxy_pass_request_body: %v and %v, want off and the default on", locs[3].Upstream.PassRequestBody, locs[0].Upstream.PassRequestBody)
	}

	for _, c := range []struct{ kv, key, msg string }{
		{"auth_request: auth", "", `"auth_request" wants "off" or a URI starting with "/"`},
		{"auth_request: /auth?x=1", "", `"auth_request" wants "off" or a URI starting with "/"`},
		{`auth_request_set: ["user $upstream_status"]`, "", `invalid variable name "user"`},
		{`auth_request_set: ["$user"]`, "", `each entry is "$variable value"`},
		{`auth_request_set: ["$user $nope"]`, "[0]", `auth_request_set $user: unknown "nope" variable`},
		{`auth_request_set: ["$Host $upstream_status"]`, "[0]", `auth_request_set: the duplicate "host" variable`},
	} {
		_, err := load(t, withLocation(c.kv))
		wantError(t, err, loc0+"."+strings.SplitN(c.kv, ":", 2)[0]+c.key, 10, c.msg)
	}
}

// A map may read an auth_request_set variable (nginx resolves variables
// once the whole http block is read).
func TestAuthRequestSetInMap(t *testing.T) {
	text := strings.Replace(base, "http:\n", "http:\n  map: [{map: \"$user $is_admin\", default: \"0\", values: [[alice, \"1\"]]}]\n", 1) +
		"          auth_request: /auth\n          auth_request_set: [\"$user $upstream_http_x_user\"]\n          proxy_set_header: {X-Admin: $is_admin}\n" +
		"        - path: = /auth\n          proxy_pass: http://app\n"
	mustLoad(t, text)
}
