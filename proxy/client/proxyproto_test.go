package client_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"spillway/proxy/client"
	"spillway/proxy/errorlog"
)

// A PROXY protocol v1 header is consumed and gives $proxy_protocol_addr;
// the bytes after it, sent in the same segment, are read as they came and
// the first of them is what the TLS front's sniff sees.
func TestProxyProtoHeaderThenBytes(t *testing.T) {
	sc, peer := tcpPair(t)
	if _, err := peer.Write([]byte("PROXY TCP4 192.0.2.7 127.0.0.1 4711 80\r\nGET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = peer.(interface{ CloseWrite() error }).CloseWrite()
	var out bytes.Buffer
	pp := client.NewProxyProto("127.0.0.1:80", errorlog.New(&out, errorlog.Info, errorlog.Options{PID: 1}), 3)
	first, err := pp.FirstByte(sc)
	if err != nil || first != 'G' {
		t.Fatalf("first byte %q, %v: want 'G'", first, err)
	}
	if src := pp.Src(); src.String() != "192.0.2.7:4711" {
		t.Errorf("source %v, want 192.0.2.7:4711", src)
	}
	rest, err := io.ReadAll(readerFunc(func(b []byte) (int, error) { return pp.Read(sc, b) }))
	if err != nil || string(rest) != "GET / HTTP/1.1\r\n\r\n" {
		t.Errorf("read %q, %v: want the request after the header", rest, err)
	}
	if out.Len() != 0 {
		t.Errorf("logged %q for a valid header", out.String())
	}
}

// A connection that starts with anything else gets nginx's "broken
// header" line, with the bytes of the first read (CR and LF escaped as
// nginx does), and reads as broken.
func TestProxyProtoBrokenHeader(t *testing.T) {
	sc, peer := tcpPair(t)
	if _, err := peer.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	pp := client.NewProxyProto("127.0.0.1:80", errorlog.New(&out, errorlog.Info, errorlog.Options{PID: 1}), 3)
	var b [64]byte
	if _, err := pp.Read(sc, b[:]); !errors.Is(err, client.ErrBrokenHeader) {
		t.Fatalf("read error %v, want ErrBrokenHeader", err)
	}
	want := `[error] 1#1: *3 broken header: "GET / HTTP/1.1\x0d\x0a\x0d\x0a" while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:80`
	if !strings.Contains(out.String(), want) {
		t.Errorf("log %q, want %q", out.String(), want)
	}
	if pp.Src().IsValid() {
		t.Error("a broken header has no source address")
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

// v2Header is a PROXY protocol v2 header: version/command, family/
// transport and the rest (addresses, TLVs) after the signature.
func v2Header(verCmd, famTrans byte, rest []byte) []byte {
	h := append([]byte("\r\n\r\n\x00\r\nQUIT\n"), verCmd, famTrans, byte(len(rest)>>8), byte(len(rest)))
	return append(h, rest...)
}

// A v2 header gives the client and the server address, and keeps its TLVs
// (what $proxy_protocol_tlv_NAME reads); the request after it is read as
// sent.
func TestProxyProtoV2AddressesAndTLVs(t *testing.T) {
	sc, peer := tcpPair(t)
	tlvs := []byte{0x01, 0, 5, 'A', 'L', 'P', 'N', '1', 0, 0, 0}
	addrs := []byte{192, 0, 2, 1, 192, 0, 2, 2, 0, 123, 0x16, 0x2e}
	msg := append(v2Header(0x21, 0x11, append(addrs, tlvs...)), "GET / HTTP/1.0\r\n\r\n"...)
	if _, err := peer.Write(msg); err != nil {
		t.Fatal(err)
	}
	_ = peer.(interface{ CloseWrite() error }).CloseWrite()
	var out bytes.Buffer
	pp := client.NewProxyProto("127.0.0.1:80", errorlog.New(&out, errorlog.Info, errorlog.Options{PID: 1}), 3)
	rest, err := io.ReadAll(readerFunc(func(b []byte) (int, error) { return pp.Read(sc, b) }))
	if err != nil || string(rest) != "GET / HTTP/1.0\r\n\r\n" {
		t.Fatalf("read %q, %v: want the request after the header", rest, err)
	}
	if src, dst := pp.Src(), pp.Dst(); src.String() != "192.0.2.1:123" || dst.String() != "192.0.2.2:5678" {
		t.Errorf("addresses %v -> %v, want 192.0.2.1:123 -> 192.0.2.2:5678", src, dst)
	}
	if !bytes.Equal(pp.TLVs(), tlvs) {
		t.Errorf("TLVs %q, want %q", pp.TLVs(), tlvs)
	}
	if out.Len() != 0 {
		t.Errorf("logged %q for a valid header", out.String())
	}
}

// nginx takes a v2 header with the PROXY command but no address family it
// knows (unspecified, or 4) and a LOCAL one: the connection is served,
// without addresses. go-proxyproto refuses the first two.
func TestProxyProtoV2WithoutAddresses(t *testing.T) {
	for name, h := range map[string][]byte{
		"unspec":  v2Header(0x21, 0x01, nil),
		"family4": v2Header(0x21, 0x41, []byte{1, 2, 3, 4}),
		"local":   v2Header(0x20, 0x11, []byte{192, 0, 2, 1, 192, 0, 2, 2, 0, 123, 0x16, 0x2e}),
	} {
		t.Run(name, func(t *testing.T) {
			sc, peer := tcpPair(t)
			if _, err := peer.Write(append(h, 'G')); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			pp := client.NewProxyProto("127.0.0.1:80", errorlog.New(&out, errorlog.Info, errorlog.Options{PID: 1}), 3)
			if first, err := pp.FirstByte(sc); err != nil || first != 'G' {
				t.Fatalf("first byte %q, %v: want 'G'", first, err)
			}
			if pp.Src().IsValid() || pp.Dst().IsValid() || pp.TLVs() != nil {
				t.Errorf("addresses %v %v, TLVs %q: want none", pp.Src(), pp.Dst(), pp.TLVs())
			}
			if out.Len() != 0 {
				t.Errorf("logged %q", out.String())
			}
		})
	}
}

// A v2 signature with another version is nginx's "unknown PROXY protocol
// version" error, and the connection ends.
func TestProxyProtoV2UnknownVersion(t *testing.T) {
	sc, peer := tcpPair(t)
	if _, err := peer.Write(v2Header(0x31, 0x11, make([]byte, 12))); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	pp := client.NewProxyProto("127.0.0.1:80", errorlog.New(&out, errorlog.Info, errorlog.Options{PID: 1}), 3)
	var b [16]byte
	if _, err := pp.Read(sc, b[:]); !errors.Is(err, client.ErrBrokenHeader) {
		t.Fatalf("read error %v, want ErrBrokenHeader", err)
	}
	want := `[error] 1#1: *3 unknown PROXY protocol version: 3 while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:80`
	if !strings.Contains(out.String(), want) {
		t.Errorf("log %q, want %q", out.String(), want)
	}
}
