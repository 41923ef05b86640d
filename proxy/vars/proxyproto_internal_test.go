package vars

import "testing"

// $proxy_protocol_tlv_NAME finds a TLV by nginx's name or hex type, an
// SSL sub-TLV under "ssl_", and the SSL TLV's verify field in decimal; a
// vector cut short finds nothing.
func TestProxyProtocolTLV(t *testing.T) {
	tlv := func(typ byte, v string) string { return string([]byte{typ, byte(len(v) >> 8), byte(len(v))}) + v }
	sub := tlv(0x21, "TLSv1.2") + tlv(0x22, "example.com")
	vec := []byte(tlv(0x01, "h2") + tlv(0x02, "localhost") + tlv(0xae, "12345") +
		tlv(0x20, "\x01\x00\x00\x00\xff"+sub))
	for name, want := range map[string]string{
		"alpn": "h2", "0x01": "h2", "0x1": "h2", "authority": "localhost", "0x000ae": "12345",
		"ssl_version": "TLSv1.2", "ssl_0x22": "example.com", "ssl_cn": "example.com", "ssl_verify": "255",
		"ssl": "\x01\x00\x00\x00\xff" + sub,
	} {
		if v, ok := proxyProtocolTLV(vec, name); !ok || string(v) != want {
			t.Errorf("%s: %q %v, want %q", name, v, ok, want)
		}
	}
	for _, name := range []string{"netns", "0x0e", "ssl_cipher", "nonsense", "0xzz", "0x100"} {
		if v, ok := proxyProtocolTLV(vec, name); ok {
			t.Errorf("%s: found %q, want none", name, v)
		}
	}
	if v, ok := proxyProtocolTLV(vec[:len(vec)-1], "ssl"); ok {
		t.Errorf("a vector cut short: found %q", v)
	}
	if _, ok := proxyProtocolTLV(nil, "alpn"); ok {
		t.Error("no header: found a TLV")
	}
}
