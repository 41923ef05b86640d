// Package buffer holds request and response bodies the way nginx's proxy
// module does: in fixed-size memory chunks first, then in a temp file.
//
//   - Budget is the process-wide memory budget. Its Pools hand out chunks
//     of one size each; sync.Pool recycles the memory, the Budget bounds the
//     byte count. Memory in chunks never exceeds the limit plus one chunk per
//     in-flight Body or Spool, since each may always hold one chunk.
//   - Body is a request body (client_body_buffer_size, client_body_temp_path,
//     client_max_body_size): written once, sealed, then replayed from byte 0
//     for every try. States: memory -> file -> sealed -> closed.
//   - Spool is an upstream response (proxy_buffers, proxy_max_temp_file_size,
//     proxy_temp_file_write_size, proxy_temp_path): a streaming pipe from the
//     goroutine reading the upstream to the client connection that spills to
//     a temp file when the client is slower than the upstream.
//
// Temp files are named like nginx's, dir/0000000001 with a counter per
// Budget, created with O_CREATE|O_EXCL and mode 0600 and unlinked at once; the
// name is kept for the log line nginx writes when it spills. Errors carry their
// data in types: *LimitError for client_max_body_size, *TempFileError (with the
// *os.PathError and syscall.Errno inside) for the disk.
//
// Every Body and Spool must be closed; Close returns the chunks and closes
// the file, and is idempotent. The package keeps no global state.
//
// Request body, in the handler (which owns the Body):
//
//	body := buffer.NewBody(buffer.BodyOptions{
//		Pool:        budget.Pool(4096),
//		MemoryLimit: loc.ClientBodyBufferSize,
//		TempDir:     loc.ClientBodyTempPath,
//		Limit:       loc.ClientMaxBodySize,
//		OnSpill:     func(path string) { warnf("a client request body is buffered to a temporary file %s", path) },
//	})
//	defer body.Close()
//	if _, err := body.ReadFrom(ctx.RequestBodyStream()); err != nil {
//		// *LimitError -> 413; *TempFileError -> 500 and [crit]; else the client's error
//	}
//	if err := body.Seal(); err != nil { ... }
//	for try := ... {
//		_, err := body.NewReader().WriteTo(upstreamConn) // from byte 0 every time
//	}
//
// Upstream response: one producer goroutine, the client as consumer:
//
//	sp := buffer.NewSpool(buffer.SpoolOptions{
//		Pool:              budget.Pool(int(loc.Upstream.Buffers.Size)),
//		Buffers:           loc.Upstream.Buffers.N,
//		TempDir:           loc.Upstream.TempPath,
//		MaxTempFileSize:   loc.Upstream.MaxTempFileSize,
//		TempFileWriteSize: int(loc.Upstream.TempFileWriteSize),
//		OnSpill:           func(path string) { warnf("an upstream response is buffered to a temporary file %s while reading upstream", path) },
//	})
//	go func() { // producer
//		_, err := io.CopyBuffer(sp, upstreamBody, buf) // blocks only if spilling is off or full
//		sp.CloseWrite(err)                             // never blocks: release the upstream now
//		releaseOrClose(upstreamConn, err)
//	}()
//	ctx.SetBodyStream(sp, contentLength) // fasthttp calls sp.WriteTo, then sp.Close
package buffer
