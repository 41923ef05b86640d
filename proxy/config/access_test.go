package config

import (
	"strings"
	"testing"
)

// proxy.yaml has no access-control keys yet: nginx's names for them
// (allow, deny, auth_basic, limit_req...) are refused like any unknown key,
// at every level, never silently accepted.
func TestAccessControlKeysAreRefused(t *testing.T) {
	for _, kv := range []string{
		"allow: 10.0.0.0/8", "deny: all", `auth_basic: "admin"`, "auth_basic_user_file: /etc/htpasswd",
		"auth_request: /auth", "limit_req: zone=one", "limit_conn: addr 10", "limit_except: GET",
		"satisfy: any", "internal: on", "valid_referers: none", "secure_link: $arg_md5",
		"ssl_verify_client: on", "return: 403",
	} {
		key, _, _ := strings.Cut(kv, ":")
		msg := `unknown key "` + key + `"`
		t.Run(key, func(t *testing.T) {
			_, err := load(t, withLocation(kv))
			wantError(t, err, loc0+"."+key, 10, msg)
			_, err = load(t, strings.Replace(base, "      locations:\n", "      "+kv+"\n      locations:\n", 1))
			wantError(t, err, "http.servers[0]."+key, 7, msg)
			_, err = load(t, strings.Replace(base, "http:\n", "http:\n  "+kv+"\n", 1))
			wantError(t, err, "http."+key, 2, msg)
		})
	}
}
