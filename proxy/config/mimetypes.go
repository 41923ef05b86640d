package config

import (
	_ "embed"
	"strings"
	"sync"
)

// MimeTypesFile is nginx's mime.types as nginx 1.22.1 installs it (Debian's
// nginx-common 1.22.1, /etc/nginx/mime.types, byte for byte): the table an
// nginx.conf's "include mime.types" reads. spillway convert reads this copy
// when the included file is not on disk, and proxy.yaml's
// "types: mime.types" is this table.
//
//go:embed mime.types
var MimeTypesFile []byte

var (
	nginxTypesOnce sync.Once
	nginxTypes     map[string]string
)

// NginxMimeTypes is MimeTypesFile's table, extension → MIME type (a later
// line wins over an earlier one for the same extension, as in nginx). The
// map is shared: callers must not change it.
func NginxMimeTypes() map[string]string {
	nginxTypesOnce.Do(func() {
		nginxTypes = map[string]string{}
		body := string(MimeTypesFile)
		body = body[strings.IndexByte(body, '{')+1 : strings.LastIndexByte(body, '}')]
		for _, stmt := range strings.Split(body, ";") {
			w := strings.Fields(stmt)
			for _, ext := range w[min(1, len(w)):] {
				nginxTypes[strings.ToLower(ext)] = w[0]
			}
		}
	})
	return nginxTypes
}
