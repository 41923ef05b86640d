package charset

import (
	"io"
	"strconv"

	"golang.org/x/text/transform"
)

// Recoder recodes a body as nginx's charset body filter does, through one
// direction of a charset_map: byte for byte between two single-byte
// charsets (ngx_http_charset_recode), to UTF-8
// (ngx_http_charset_recode_to_utf8), or from UTF-8
// (ngx_http_charset_recode_from_utf8: a character the map lacks becomes
// an HTML entity "&#1025;", an invalid sequence "?", and a sequence the
// body ends inside is dropped). It keeps no state between calls, so one
// Recoder serves every request.
type Recoder struct {
	bytes    *[256]byte
	toUTF8   *[256]utf8Seq
	fromUTF8 *utf8Table
	grows    bool
}

var _ transform.Transformer = (*Recoder)(nil)

// ChangesLength: the recoded body may have another length than the
// original (UTF-8 is on one side), so the answer loses its Content-Length
// and with it its ranges (nginx's ngx_http_clear_content_length in
// ngx_http_charset_ctx). A byte-for-byte recoding keeps both.
func (r *Recoder) ChangesLength() bool { return r.grows }

// Reset implements transform.Transformer; a Recoder has no state.
func (r *Recoder) Reset() {}

// entityLen is NGX_HTML_ENTITY_LEN: the longest "&#1114111;".
const entityLen = len("&#1114111;")

// Transform implements transform.Transformer.
func (r *Recoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	switch {
	case r.bytes != nil:
		n := min(len(dst), len(src))
		for i, c := range src[:n] {
			dst[i] = r.bytes[c]
		}
		if n < len(src) {
			err = transform.ErrShortDst
		}
		return n, n, err
	case r.toUTF8 != nil:
		for nSrc < len(src) {
			e := &r.toUTF8[src[nSrc]]
			n := int(e[0])
			if len(dst)-nDst < n {
				return nDst, nSrc, transform.ErrShortDst
			}
			d := dst[nDst : nDst+n]
			d[0] = e[1]
			if n > 1 {
				d[1] = e[2]
				if n > 2 {
					d[2] = e[3]
				}
			}
			nDst += n
			nSrc++
		}
		return nDst, nSrc, nil
	}
	for nSrc < len(src) {
		c := src[nSrc]
		if c < 0x80 {
			if nDst == len(dst) {
				return nDst, nSrc, transform.ErrShortDst
			}
			dst[nDst] = c
			nDst, nSrc = nDst+1, nSrc+1
			continue
		}
		if len(dst)-nDst < entityLen {
			return nDst, nSrc, transform.ErrShortDst
		}
		n, size := decodeUTF8(src[nSrc:])
		if n == utf8Short {
			if !atEOF {
				return nDst, nSrc, transform.ErrShortSrc
			}
			return nDst, len(src), nil // nginx never sends what it saved
		}
		nSrc += size
		switch b := r.fromUTF8.get(n); {
		case b != 0:
			dst[nDst] = b
			nDst++
		case n > 0x10ffff:
			dst[nDst] = '?'
			nDst++
		default:
			nDst += copy(dst[nDst:], "&#"+strconv.FormatUint(uint64(n), 10)+";")
		}
	}
	return nDst, nSrc, nil
}

// Reader is the body r recoded as it is read.
func (r *Recoder) Reader(src io.Reader) io.Reader { return transform.NewReader(src, r) }

// Bytes is body recoded.
func (r *Recoder) Bytes(body []byte) []byte {
	out, _, err := transform.Bytes(r, body)
	if err != nil { // a Recoder's only errors ask for more room, which transform.Bytes gives
		return body
	}
	return out
}
