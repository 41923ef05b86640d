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
