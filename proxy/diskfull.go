package proxy

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"spillway/buffer"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/upstream"
)

// Temp file budget (http.temp_file_limit) and a full disk.
//
// nginx answers a response whose temp file cannot be written (ENOSPC) with
// a truncated body and "[crit] pwritev() failed (28: No space left on
// device)". spillway's spool instead stops spilling (buffer.SpoolOptions.
// OnFull) and relays the rest of the response at the client's pace, holding
// the upstream longer, as with proxy_max_temp_file_size 0. The same happens
// when the process-wide temp_file_limit is used up. A request body that
// cannot be written keeps nginx's answer: 500 and nginx's [crit] line
// (body.go), the limit reading as ENOSPC.

// diskFull counts what a lack of temp space did, by cause: the
// temp_file_limit or the disk (ENOSPC, EDQUOT). Metric-ready: atomics.
type diskFull struct {
	streamed [2]atomic.Int64 // responses that stopped spilling and went on at the client's pace
	refused  [2]atomic.Int64 // request bodies answered 500
	logged   [2]atomic.Int64 // when the last notice was logged (UnixNano), for its rate limit
}

const (
	fullLimit = iota // http.temp_file_limit
	fullDisk         // ENOSPC / EDQUOT
)

var fullCauses = [2]string{"temp_file_limit", "no_space"}

func fullCause(err error) int {
	if errors.Is(err, buffer.ErrTempFileLimit) {
		return fullLimit
	}
	return fullDisk
}

// fullLogEvery is the most often the reason is logged for each cause: once
// it is said, more responses degrading for the same reason add nothing but
// the counter.
const fullLogEvery = time.Minute

// onFull is the spool's OnFull: one response stops spilling. It logs why at
// warn, at most once a minute for each cause, in nginx's format:
//
//	[warn] ... temp_file_limit 8388608 reached: the response is relayed at the client's pace while reading upstream, client: ...
//	[warn] ... pwrite() "/var/tmp/proxy/0000000012" failed (28: No space left on device): the response is relayed at the client's pace while reading upstream, client: ...
func (s *spoolStream) onFull(err error) {
	x := s.x
	p := x.p
	cause := fullCause(err)
	p.full.streamed[cause].Add(1)
	now := time.Now().UnixNano()
	last := p.full.logged[cause].Load()
	if now-last < int64(fullLogEvery) && last != 0 || !p.full.logged[cause].CompareAndSwap(last, now) {
		return
	}
	msg := "temp_file_limit " + strconv.FormatInt(p.budget.Stats().TempLimit, 10) + " reached"
	if cause == fullDisk {
		msg = "pwrite()"
		var te *buffer.TempFileError
		if errors.As(err, &te) {
			if te.Op == "create" {
				msg = "open()"
			}
			msg += ` "` + te.Path + `"`
		}
		errno := errorlog.ErrnoOf(err)
		msg += " failed (" + strconv.Itoa(int(errno)) + ": " + errorlog.StrError(errno) + ")"
	}
	msg += ": the response is relayed at the client's pace"
	x.logPeer(errorlog.Level(config.LevelWarn), upstream.PhaseReadBody, msg, 0, s.uc.Peer().Addr())
}

// writeDiskFull writes the temp-file budget and what a lack of space did.
func (p *Proxy) writeDiskFull(e expo, b *buffer.Stats) {
	e.one("spillway_buffer_temp_file_limit_bytes", "gauge", "The temp-file budget (http.temp_file_limit); 0 means none.", uint64(b.TempLimit))
	e.one("spillway_buffer_temp_file_bytes", "gauge", "Bytes in temp files now.", uint64(b.TempBytes))
	e.one("spillway_buffer_temp_file_peak_bytes", "gauge", "The most bytes in temp files at once since the start.", uint64(b.PeakTempBytes))
	e.family("spillway_buffer_spill_stopped_total", "counter", "Responses that stopped spilling and streamed at the client's pace, by cause (the temp-file budget used up, or the disk full).")
	for c, name := range fullCauses {
		e.sample(`spillway_buffer_spill_stopped_total{cause="`+name+`"}`, uint64(p.full.streamed[c].Load()))
	}
	e.family("spillway_buffer_request_body_refused_total", "counter", "Request bodies refused with 500 because their temp file could not be written, by cause.")
	for c, name := range fullCauses {
		e.sample(`spillway_buffer_request_body_refused_total{cause="`+name+`"}`, uint64(p.full.refused[c].Load()))
	}
}
