// Package numfmt appends numbers the way nginx's logs print them, without
// allocating: the error log's timestamps and the access log's
// $time_local/$time_iso8601 share it.
package numfmt

// AppendDigits appends a non-negative n zero-padded to width digits.
func AppendDigits(b []byte, n, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for n >= 10 || width > 1 {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		width--
	}
	i--
	tmp[i] = byte('0' + n)
	return append(b, tmp[i:]...)
}
