package config

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// compilePCRE compiles a location or fastcgi_split_path_info regex so that
// it matches what nginx's PCRE matches on the same $uri, where Go's RE2
// syntax means the same but its matching differs. $uri is percent-decoded:
// a client puts any byte in it but NUL, so these differences choose the
// location (measured on nginx 1.22.1):
//   - PCRE's "$" (without (?m)) also matches before a newline that ends the
//     subject: `location ~ \.php$` takes "/x.php%0A", RE2's "$" does not.
//     "$" becomes (?:\z|\n\z), which matches the same subjects (a pattern
//     that goes on after its "$" is the exception, and no location needs
//     one).
//   - nginx runs PCRE without UTF mode, so "~*" and (?i) fold ASCII letters
//     only; RE2 folds Unicode: `~* ^/secret` took "/%C5%BFecret" (ſ, U+017F,
//     folds to s) and `~* ^/kube` "/%E2%84%AAube" (the Kelvin sign K).
//     Literals fold ASCII only here; a class under (?i) loses the two
//     non-ASCII runes RE2 folds to ASCII letters (ſ and K); other non-ASCII
//     letters in a class (which PCRE sees as bytes) keep RE2's folding.
//   - PCRE without UTF mode reads the pattern and $uri as bytes; RE2 reads
//     UTF-8: `~ ^/u/.$` took "/u/%C3%A9" (one rune, two bytes), `\xC3`
//     was U+00C3 (the bytes C3 83). So the pattern's bytes from 0x80 up
//     are read as the runes of the same value (Latin-1), and MatchPCRE and
//     FindSubmatchIndexPCRE present $uri to the regex the same way: one
//     rune per byte.
//
// caseless is "~*".
func compilePCRE(expr string, caseless bool) (*regexp.Regexp, error) {
	expr = NamedGroupsRE2(expr)
	flags := syntax.Perl
	if caseless {
		flags |= syntax.FoldCase
	}
	if b, ok := latin1([]byte(expr)); ok {
		expr = string(b)
	}
	re, err := syntax.Parse(expr, flags)
	if err != nil {
		// The error as regexp.Compile words it, which callers quote.
		_, err = regexp.Compile(expr)
		return nil, err
	}
	re = pcreSemantics(re)
	return regexp.Compile(re.String())
}

// pcreSemantics rewrites re in place (compilePCRE).
func pcreSemantics(re *syntax.Regexp) *syntax.Regexp {
	for i, sub := range re.Sub {
		re.Sub[i] = pcreSemantics(sub)
	}
	switch re.Op {
	case syntax.OpEndText:
		if re.Flags&syntax.WasDollar != 0 {
			return &syntax.Regexp{Op: syntax.OpAlternate, Sub: []*syntax.Regexp{
				{Op: syntax.OpEndText},
				{Op: syntax.OpConcat, Sub: []*syntax.Regexp{{Op: syntax.OpLiteral, Rune: []rune{'\n'}}, {Op: syntax.OpEndText}}},
			}}
		}
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return asciiFold(re)
		}
	case syntax.OpCharClass:
		if re.Flags&syntax.FoldCase != 0 {
			re.Rune = withoutASCIIFolds(re.Rune)
		}
	}
	return re
}

// asciiFold is a literal that folds only ASCII letters, as PCRE without UTF
// mode: each letter becomes a class of its two cases, anything else is
// matched as written.
func asciiFold(re *syntax.Regexp) *syntax.Regexp {
	cat := &syntax.Regexp{Op: syntax.OpConcat}
	for _, r := range re.Rune {
		if r < unicode.MaxASCII && unicode.IsLetter(r) {
			l, u := unicode.ToLower(r), unicode.ToUpper(r)
			cat.Sub = append(cat.Sub, &syntax.Regexp{Op: syntax.OpCharClass, Rune: []rune{u, u, l, l}})
			continue
		}
		cat.Sub = append(cat.Sub, &syntax.Regexp{Op: syntax.OpLiteral, Rune: []rune{r}})
	}
	if len(cat.Sub) == 1 {
		return cat.Sub[0]
	}
	return cat
}

// withoutASCIIFolds removes from a class's ranges the runes that RE2's
// Unicode folding adds to ASCII letters: U+017F (s) and U+212A (k).
func withoutASCIIFolds(ranges []rune) []rune {
	out := make([]rune, 0, len(ranges)+4)
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		for _, x := range [...]rune{'\u017f', '\u212a'} {
			if lo <= x && x <= hi {
				if lo < x {
					out = append(out, lo, x-1)
				}
				lo = x + 1
			}
		}
		if lo <= hi {
			out = append(out, lo, hi)
		}
	}
	return out
}

// MatchPCRE reports whether re, compiled for a location, matches the bytes
// b as nginx's PCRE does (compilePCRE).
func MatchPCRE(re *regexp.Regexp, b []byte) bool {
	s, _ := latin1(b)
	return re.Match(s)
}

// FindSubmatchIndexPCRE is re.FindSubmatchIndex on the bytes b as nginx's
// PCRE reads them (compilePCRE); the indexes are into b.
func FindSubmatchIndexPCRE(re *regexp.Regexp, b []byte) []int {
	s, conv := latin1(b)
	m := re.FindSubmatchIndex(s)
	if conv {
		for i, v := range m {
			if v > 0 {
				m[i] = utf8.RuneCount(s[:v]) // one rune per byte of b
			}
		}
	}
	return m
}

// latin1 returns b with each byte from 0x80 up as the UTF-8 of the rune of
// that value, so that RE2 sees one rune per byte; b itself (and false)
// when it is ASCII.
func latin1(b []byte) ([]byte, bool) {
	n := 0
	for _, c := range b {
		if c >= utf8.RuneSelf {
			n++
		}
	}
	if n == 0 {
		return b, false
	}
	out := make([]byte, 0, len(b)+n)
	for _, c := range b {
		if c < utf8.RuneSelf {
			out = append(out, c)
			continue
		}
		out = utf8.AppendRune(out, rune(c))
	}
	return out, true
}

// NamedGroupsRE2 rewrites PCRE's (?'name'...) named groups, which RE2 does
// not read, as (?P<name>...); (?<name>...) and (?P<name>...) are RE2's
// already. An escaped "\(" is left alone.
func NamedGroupsRE2(expr string) string {
	if !strings.Contains(expr, "(?'") {
		return expr
	}
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c == '\\' && i+1 < len(expr) {
			b.WriteByte(c)
			b.WriteByte(expr[i+1])
			i++
			continue
		}
		if c == '(' && strings.HasPrefix(expr[i:], "(?'") {
			if end := strings.IndexByte(expr[i+3:], '\''); end > 0 {
				b.WriteString("(?P<" + expr[i+3:i+3+end] + ">")
				i += 3 + end
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// CaptureNames appends to names re's named groups not in it yet: the
// variables nginx sets when re matches ($name for (?<name>...)).
func CaptureNames(names []string, re *regexp.Regexp) []string {
	if re == nil {
		return names
	}
	for _, n := range re.SubexpNames() {
		if n = strings.ToLower(n); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}
