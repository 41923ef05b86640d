package vars

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// $proxy_protocol_tlv_NAME: a TLV of the connection's PROXY protocol v2
// header, by nginx's rules (ngx_proxy_protocol_get_tlv). NAME is a type in
// hex ("0x2", "0xae") or one of the registered names below; "ssl_NAME" is
// a sub-TLV of the SSL TLV, by name or as "ssl_0xNN", and "ssl_verify" the
// SSL TLV's verify field in decimal. A TLV absent, or a vector cut short
// (nginx: "broken PROXY protocol TLV"), is not found.

// ppTLVNames are nginx's names of the registered types.
var ppTLVNames = map[string]byte{
	"alpn": 0x01, "authority": 0x02, "unique_id": 0x05, "ssl": 0x20, "netns": 0x30,
}

// ppSSLNames are nginx's names of the SSL TLV's sub-types.
var ppSSLNames = map[string]byte{
	"version": 0x21, "cn": 0x22, "cipher": 0x23, "sig_alg": 0x24, "key_alg": 0x25,
}

// ppSSLHead is the SSL TLV's client (1 byte) and verify (4) fields, before
// its sub-TLVs.
const ppSSLHead = 5

func proxyProtocolTLV(tlvs []byte, name string) ([]byte, bool) {
	if tlvs == nil {
		return nil, false
	}
	if sub, ok := strings.CutPrefix(name, "ssl_"); ok {
		ssl, ok := lookupTLV(tlvs, ppTLVNames["ssl"])
		if !ok || len(ssl) < ppSSLHead {
			return nil, false
		}
		if sub == "verify" {
			return strconv.AppendUint(nil, uint64(binary.BigEndian.Uint32(ssl[1:5])), 10), true
		}
		t, ok := tlvType(sub, ppSSLNames)
		if !ok {
			return nil, false
		}
		return lookupTLV(ssl[ppSSLHead:], t)
	}
	t, ok := tlvType(name, ppTLVNames)
	if !ok {
		return nil, false
	}
	return lookupTLV(tlvs, t)
}

// tlvType is NAME as a type: "0x" and hex digits, or a name of names.
func tlvType(name string, names map[string]byte) (byte, bool) {
	if h, ok := strings.CutPrefix(name, "0x"); ok {
		n, err := strconv.ParseUint(h, 16, 64)
		if err != nil || n > 0xff {
			return 0, false
		}
		return byte(n), true
	}
	t, ok := names[name]
	return t, ok
}

// lookupTLV is the first TLV of type t in the vector v.
func lookupTLV(v []byte, t byte) ([]byte, bool) {
	for len(v) > 0 {
		if len(v) < 3 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(v[1:3]))
		if len(v)-3 < n {
			return nil, false
		}
		if v[0] == t {
			return v[3 : 3+n], true
		}
		v = v[3+n:]
	}
	return nil, false
}
