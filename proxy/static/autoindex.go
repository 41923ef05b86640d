package static

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	utf8pkg "unicode/utf8"
)

// nameLen is NGX_HTTP_AUTOINDEX_NAME_LEN: the column a name is padded to.
const nameLen = 50

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// entry is one listed name (ngx_http_autoindex_entry_t).
type entry struct {
	name  string
	dir   bool // a directory
	file  bool // a regular file
	size  int64
	mtime int64
}

// autoindex is ngx_http_autoindex_module's listing of dir in the
// location's autoindex_format: directories first, then by name (bytes),
// hidden entries left out; a symlink that leads nowhere is listed as
// itself. ok is false when the directory cannot be read (the 403 follows,
// as nginx's content phase). A jsonp listing is JSON here: the caller
// wraps it in the request's callback (JSONP).
func (l *Location) autoindex(uri, dir string) (Result, bool) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return Result{}, false
	}
	var list []entry
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := os.Stat(dir + e.Name()) // follows symlinks, as nginx's stat
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ELOOP) {
			fi, err = os.Lstat(dir + e.Name()) // nginx's ngx_de_link_info
		}
		if err != nil {
			continue
		}
		list = append(list, entry{e.Name(), fi.IsDir(), fi.Mode().IsRegular(), fi.Size(), fi.ModTime().Unix()})
	}
	slices.SortFunc(list, func(a, b entry) int {
		switch {
		case a.dir && !b.dir:
			return -1
		case !a.dir && b.dir:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	r := Result{Kind: Listing, Code: 200, Filename: dir, Format: l.conf.AutoindexFormat}
	switch l.conf.AutoindexFormat {
	case "json", "jsonp":
		r.Body, r.Type = autoindexJSON(list), "application/json"
	case "xml":
		r.Body, r.Type = autoindexXML(list), "text/xml; charset=utf-8"
	default:
		var off int64
		if l.conf.AutoindexLocaltime {
			_, o := time.Now().Zone() // nginx: the cached time's gmtoff, for every entry
			off = int64(o)
		}
		r.Body, r.Type = autoindexHTML(uri, list, l.conf.AutoindexExactSize, l.conf.UTF8, off), "text/html"
	}
	return r, true
}

// autoindexHTML is ngx_http_autoindex_html: names past 50 columns cut to
// 47 and "..&gt;" (a column is a character under charset utf-8, else a
// byte, as nginx counts), sizes exact or scaled, times in GMT shifted by
// off seconds.
func autoindexHTML(uri string, list []entry, exact, utf8 bool, off int64) []byte {
	var b strings.Builder
	t := escapeHTML(uri)
	b.WriteString("<html>\r\n<head><title>Index of " + t + "</title></head>\r\n<body>\r\n<h1>Index of " + t + "</h1><hr><pre><a href=\"../\">../</a>\r\n")
	for _, e := range list {
		href := escapeComponent(e.name)
		if strings.Contains(e.name, ":") { // not a scheme (nginx's entry->colon)
			href = "./" + href
		}
		if e.dir {
			href += "/"
		}
		b.WriteString(`<a href="` + href + `">`)
		n := len(e.name)
		if utf8 {
			n = utf8pkg.RuneCountInString(e.name)
		}
		if n > nameLen {
			cut := e.name[:nameLen-3]
			if utf8 {
				cut = string([]rune(e.name)[:nameLen-3])
			}
			b.WriteString(escapeHTML(cut) + "..&gt;</a>")
		} else {
			b.WriteString(escapeHTML(e.name))
			if e.dir && nameLen-n > 0 {
				b.WriteByte('/')
				n++
			}
			b.WriteString("</a>")
			if nameLen-n > 0 {
				b.WriteString(strings.Repeat(" ", nameLen-n))
			}
		}
		b.WriteByte(' ')
		tm := time.Unix(e.mtime+off, 0).UTC()
		fmt.Fprintf(&b, "%02d-%s-%d %02d:%02d ", tm.Day(), months[tm.Month()-1], tm.Year(), tm.Hour(), tm.Minute())
		switch {
		case exact && e.dir:
			b.WriteString("                  -")
		case exact:
			fmt.Fprintf(&b, "%19d", e.size)
		case e.dir:
			b.WriteString("      -")
		default:
			b.WriteString(scaledSize(e.size))
		}
		b.WriteString("\r\n")
	}
	b.WriteString("</pre><hr></body>\r\n</html>\r\n")
	return []byte(b.String())
}

// scaledSize is autoindex_exact_size off's size column: up to 9999 bytes
// as they are, then K, M or G, rounded half up.
func scaledSize(n int64) string {
	scale, unit := byte(0), int64(1)
	switch {
	case n > 1<<30-1:
		scale, unit = 'G', 1<<30
	case n > 1<<20-1:
		scale, unit = 'M', 1<<20
	case n > 9999:
		scale, unit = 'K', 1<<10
	}
	if scale == 0 {
		return fmt.Sprintf(" %6d", n)
	}
	size := n / unit
	if n%unit > unit/2-1 {
		size++
	}
	return fmt.Sprintf("%6d%c", size, scale)
}

// autoindexJSON is ngx_http_autoindex_json: one object per line, times as
// HTTP dates, sizes of regular files only.
func autoindexJSON(list []entry) []byte {
	var b strings.Builder
	b.WriteString("[")
	for i, e := range list {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\r\n" + `{ "name":"` + escapeJSON(e.name) + `", "type":"` + entryType(e) + `", "mtime":"`)
		b.WriteString(time.Unix(e.mtime, 0).UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT") + `"`)
		if e.file {
			b.WriteString(`, "size":` + strconv.FormatInt(e.size, 10))
		}
		b.WriteString(" }")
	}
	if len(list) > 0 {
		b.WriteString("\r\n")
	}
	b.WriteString("]")
	return []byte(b.String())
}

// autoindexXML is ngx_http_autoindex_xml: GMT times in ISO 8601.
func autoindexXML(list []entry) []byte {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\r\n<list>\r\n")
	for _, e := range list {
		typ := entryType(e)
		tm := time.Unix(e.mtime, 0).UTC()
		fmt.Fprintf(&b, `<%s mtime="%04d-%02d-%02dT%02d:%02d:%02dZ"`, typ, tm.Year(), tm.Month(), tm.Day(), tm.Hour(), tm.Minute(), tm.Second())
		if e.file {
			b.WriteString(` size="` + strconv.FormatInt(e.size, 10) + `"`)
		}
		b.WriteString(">" + escapeHTML(e.name) + "</" + typ + ">\r\n")
	}
	b.WriteString("</list>\r\n")
	return []byte(b.String())
}

func entryType(e entry) string {
	switch {
	case e.dir:
		return "directory"
	case e.file:
		return "file"
	}
	return "other"
}

// escapeHTML is ngx_escape_html: <, >, & and " only.
func escapeHTML(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "&", "&amp;", `"`, "&quot;").Replace(s)
}

// escapeJSON is ngx_escape_json: " and \ escaped, control bytes as
// \n \r \t \b \f or \u00XX.
func escapeJSON(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// JSONPCallback is ngx_http_autoindex_jsonp_callback on the request's
// args: the callback argument as sent ("" for none), or nginx's [info]
// message when it is too long or not letters, digits, "_" and "." (then
// the answer is 400).
func JSONPCallback(args string) (cb, problem string) {
	cb = argValue(args, "callback")
	if len(cb) > 128 {
		return "", `client sent too long callback name: "` + cb + `"`
	}
	for i := 0; i < len(cb); i++ {
		c := cb[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return "", `client sent invalid callback name: "` + cb + `"`
		}
	}
	return cb, ""
}

// JSONP wraps a JSON listing in its callback as nginx does.
func JSONP(cb string, listing []byte) []byte {
	return append(append([]byte("/* callback */\r\n"+cb+"("), listing...), ");"...)
}

// argValue is ngx_http_arg: the value of the first name=value in args
// whose name matches (case-insensitively), up to "&".
func argValue(args, name string) string {
	for p := 0; p+len(name) < len(args); p++ {
		if !strings.EqualFold(args[p:p+len(name)], name) || args[p+len(name)] != '=' || p > 0 && args[p-1] != '&' {
			continue
		}
		v := args[p+len(name)+1:]
		if i := strings.IndexByte(v, '&'); i >= 0 {
			v = v[:i]
		}
		return v
	}
	return ""
}

// escapeComponent is ngx_escape_uri's NGX_ESCAPE_URI_COMPONENT: all but
// letters, digits and "-._~" as %XX.
func escapeComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
