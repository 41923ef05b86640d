package static

import (
	"fmt"
	"html"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// nameLen is NGX_HTTP_AUTOINDEX_NAME_LEN: the column a name is padded to.
const nameLen = 50

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// autoindex is ngx_http_autoindex_module's HTML page for dir (autoindex_format
// html, autoindex_exact_size on, autoindex_localtime off): directories
// first, then by name (bytes), hidden entries left out. ok is false when
// the directory cannot be read (the 403 follows, as nginx's content phase).
func autoindex(uri, dir string) (Result, bool) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return Result{}, false
	}
	type entry struct {
		name  string
		dir   bool
		size  int64
		mtime int64
	}
	var list []entry
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := os.Stat(dir + e.Name()) // follows symlinks, as nginx's stat
		if err != nil {
			continue
		}
		list = append(list, entry{e.Name(), fi.IsDir(), fi.Size(), fi.ModTime().Unix()})
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
	var b strings.Builder
	t := html.EscapeString(uri)
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
		n := utf8.RuneCountInString(e.name)
		if n > nameLen {
			r := []rune(e.name)
			b.WriteString(html.EscapeString(string(r[:nameLen-3])) + "..&gt;</a>")
		} else {
			b.WriteString(html.EscapeString(e.name))
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
		tm := unixUTC(e.mtime)
		fmt.Fprintf(&b, "%02d-%s-%d %02d:%02d ", tm.Day(), months[tm.Month()-1], tm.Year(), tm.Hour(), tm.Minute())
		if e.dir {
			b.WriteString("                  -")
		} else {
			fmt.Fprintf(&b, "%19d", e.size)
		}
		b.WriteString("\r\n")
	}
	b.WriteString("</pre><hr></body>\r\n</html>\r\n")
	return Result{Kind: Listing, Code: 200, Filename: dir, Body: []byte(b.String())}, true
}

func unixUTC(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

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
