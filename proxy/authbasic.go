package proxy

import (
	"bytes"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/GehirnInc/crypt"
	_ "github.com/GehirnInc/crypt/apr1_crypt"   // $apr1$
	_ "github.com/GehirnInc/crypt/md5_crypt"    // $1$
	_ "github.com/GehirnInc/crypt/sha256_crypt" // $5$
	_ "github.com/GehirnInc/crypt/sha512_crypt" // $6$
	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/vars"
)

// basicAuth is auth_basic with its auth_basic_user_file at one level
// (ngx_http_auth_basic_module); nil when basic authentication is off.
type basicAuth struct {
	realm string
	file  *userFile
	// fileVar is a user file named with variables (file is then nil):
	// each request reads the file it names, as nginx does, from dir when
	// the name is relative (nginx's conf prefix).
	fileVar *vars.Value
	dir     string
}

// basicAuth builds the level's basic authentication; locations naming one
// file share it, so it is read once per change.
func (s *site) basicAuth(ab config.AuthBasic) (*basicAuth, error) {
	if !ab.Enabled() {
		return nil, nil
	}
	if strings.Contains(ab.UserFile, "$") {
		v, err := vars.Compile(ab.UserFile, s.maps)
		if err != nil {
			return nil, fmt.Errorf("auth_basic_user_file: %w", err)
		}
		return &basicAuth{realm: ab.Realm, fileVar: v, dir: s.cfg.ConfPrefix}, nil
	}
	if s.userFiles == nil {
		s.userFiles = map[string]*userFile{}
	}
	f := s.userFiles[ab.UserFile]
	if f == nil {
		f = &userFile{path: ab.UserFile}
		s.userFiles[ab.UserFile] = f
	}
	return &basicAuth{realm: ab.Realm, file: f}, nil
}

// userFile is the request's user file: the level's, or the one its name
// with variables gives (ngx_http_complex_value with conf_prefix: a
// relative name is the conf prefix's), read afresh.
func (ab *basicAuth) userFile(x *exchange) *userFile {
	if ab.fileVar == nil {
		return ab.file
	}
	name := string(ab.fileVar.Append(nil, x))
	if !filepath.IsAbs(name) {
		name = ab.dir + "/" + name // nginx's ngx_get_full_name: joined as is
	}
	return &userFile{path: name}
}

// Results of an access-phase check: ok lets the request on, declined means
// the check has nothing to say (nginx's NGX_DECLINED); otherwise the status
// to answer.
const (
	accessOK       = 0
	accessDeclined = -1
)

// authBasic is ngx_http_auth_basic_handler: the credentials of the
// Authorization header against the user file, with nginx's statuses and
// error lines. A 401 comes with the realm for WWW-Authenticate.
func (x *exchange) authBasic(ab *basicAuth) (code int, realm string) {
	if ab == nil {
		return accessDeclined, ""
	}
	user, pass, ok := vars.BasicCredentials(x.ctx.Request.Header.Peek("Authorization"))
	if !ok {
		x.logf(errorlog.Info, "no user/password was provided for basic authentication", 0, "")
		return fasthttp.StatusUnauthorized, ab.realm
	}
	file := ab.userFile(x)
	users, err := file.users()
	if err != nil {
		var fe *userFileError
		errors.As(err, &fe)
		lv, code := errorlog.Crit, fasthttp.StatusInternalServerError
		if fe.errno == syscall.ENOENT {
			lv, code = errorlog.Error, fasthttp.StatusForbidden
		}
		x.logf(lv, fe.op+`() "`+file.path+`" failed`, uintptr(fe.errno), "")
		return code, ""
	}
	hash, found := users[string(user)]
	if !found {
		x.logf(errorlog.Error, `user "`+string(user)+`" was not found in "`+file.path+`"`, 0, "")
		return fasthttp.StatusUnauthorized, ab.realm
	}
	switch checkPassword(hash, pass) {
	case passwordOK:
		return accessOK, ""
	case passwordUnsupported:
		x.logf(errorlog.Crit, `crypt() failed: spillway cannot check the password hash of user "`+string(user)+`" in "`+file.path+`" (DES, yescrypt and other crypt(3) schemes than MD5, SHA-256, SHA-512 and bcrypt)`, 0, "")
		return fasthttp.StatusInternalServerError, ""
	}
	x.logf(errorlog.Error, `user "`+string(user)+`": password mismatch`, 0, "")
	return fasthttp.StatusUnauthorized, ab.realm
}

// userFile is an htpasswd file. nginx reads it on every request; spillway
// keeps what it read and reads it again when its inode, size, mtime or
// ctime changes, so an edit (or a replacement by rename) applies to the
// next request, as with nginx.
type userFile struct {
	path string

	mu     sync.Mutex
	stamp  [4]int64          // inode, size, mtime, ctime of what users holds
	logins map[string]string // login → password hash, the first line wins
}

// userFileError is an open or read failure, named as nginx names it.
type userFileError struct {
	op    string // "open" or "pread"
	errno syscall.Errno
}

func (e *userFileError) Error() string { return e.op + "() failed: " + e.errno.Error() }

// users returns the file's logins, reading it again if it changed.
func (f *userFile) users() (map[string]string, error) {
	var st unix.Stat_t // x/sys/unix names the times alike on every Unix
	if err := unix.Stat(f.path, &st); err != nil {
		return nil, fileError("open", err)
	}
	stamp := [4]int64{int64(st.Ino), st.Size, st.Mtim.Nano(), st.Ctim.Nano()}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logins != nil && f.stamp == stamp {
		return f.logins, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		var pe *os.PathError
		op := "open"
		if errors.As(err, &pe) && pe.Op == "read" {
			op = "pread"
		}
		return nil, fileError(op, err)
	}
	f.logins, f.stamp = parseUserFile(b), stamp
	return f.logins, nil
}

func fileError(op string, err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		errno = syscall.EIO
	}
	return &userFileError{op: op, errno: errno}
}

// parseUserFile reads "login:hash[:anything]" lines as nginx's parser does:
// a line that starts with "#" or CR is skipped, a login is everything
// before the first ":", a hash ends at CR, LF or ":", and the first line of
// a login is the one used.
func parseUserFile(b []byte) map[string]string {
	users := map[string]string{}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) == 0 || line[0] == '#' || line[0] == '\r' {
			continue
		}
		login, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(login) == 0 {
			continue
		}
		if i := bytes.IndexAny(rest, "\r:"); i >= 0 {
			rest = rest[:i]
		}
		if _, dup := users[string(login)]; !dup {
			users[string(login)] = string(rest)
		}
	}
	return users
}

type passwordResult uint8

const (
	passwordMismatch passwordResult = iota
	passwordOK
	passwordUnsupported // a crypt(3) scheme spillway cannot compute
)

// checkPassword is ngx_crypt: {PLAIN}, {SHA}, {SSHA} and $apr1$ as nginx
// computes them, the crypt(3) schemes $1$, $5$, $6$ (MD5, SHA-256,
// SHA-512 crypt) and $2a$/$2b$/$2y$ (bcrypt) as libxcrypt does. Every
// comparison takes constant time. A hash crypt(3) would not recognise
// either is a mismatch, as it is for nginx.
func checkPassword(hash string, pass []byte) passwordResult {
	ok := false
	switch {
	case strings.HasPrefix(hash, "{PLAIN}"):
		ok = subtle.ConstantTimeCompare([]byte(hash[len("{PLAIN}"):]), pass) == 1
	case strings.HasPrefix(hash, "{SHA}"):
		sum := sha1.Sum(pass)
		ok = subtle.ConstantTimeCompare([]byte(hash[len("{SHA}"):]), []byte(base64.StdEncoding.EncodeToString(sum[:]))) == 1
	case strings.HasPrefix(hash, "{SSHA}"):
		raw, err := base64.StdEncoding.DecodeString(hash[len("{SSHA}"):])
		if err == nil && len(raw) > sha1.Size {
			h := sha1.New()
			h.Write(pass)
			h.Write(raw[sha1.Size:])
			ok = subtle.ConstantTimeCompare(h.Sum(nil), raw[:sha1.Size]) == 1
		}
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if len(pass) > 72 {
			pass = pass[:72] // bcrypt's limit: libxcrypt uses the first 72 bytes
		}
		ok = bcrypt.CompareHashAndPassword([]byte(hash), pass) == nil
	case crypt.IsHashSupported(hash):
		ok = crypt.NewFromHash(hash).Verify(hash, pass) == nil
	case unsupportedCrypt(hash):
		return passwordUnsupported
	}
	if ok {
		return passwordOK
	}
	return passwordMismatch
}

// unsupportedCrypt reports a hash that libxcrypt computes and spillway
// cannot: traditional DES (13 characters), BSDi DES ("_"), yescrypt,
// gost-yescrypt, scrypt, sha1crypt, SunMD5, NT.
func unsupportedCrypt(hash string) bool {
	for _, p := range []string{"$y$", "$gy$", "$7$", "$sha1$", "$md5", "$3$", "_"} {
		if strings.HasPrefix(hash, p) {
			return true
		}
	}
	if len(hash) != 13 {
		return false
	}
	for i := 0; i < len(hash); i++ {
		c := hash[i]
		if !(c == '.' || c == '/' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
