package handler

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"
)

// MaxBodyBytes bounds an invocation body. What the host sends
// (design/functions-runtime.md §1.3-1.5):
//   - AuditBlob with deferred binding: a ~2 KB descriptor plus Metadata
//     (blob properties, user metadata ≤ 8 KiB);
//   - AuditSweep: the timer's ~300 bytes;
//   - Notifier: the message text (queuemsg.MaxJSON, 48 KiB of JSON)
//     JSON-encoded twice in Data.message (each encoding at most doubles
//     it: 192 KiB) plus, because the text is a JSON object, its top-level
//     property "detection" again as an object in Metadata: about 250 KiB
//     at worst.
//
// 1 MiB leaves a fourfold margin. A body past it is refused with 413
// before it is buffered (a blob trigger configured to ship the blob
// inline, dataType binary without deferred binding, lands here).
const MaxBodyBytes = 1 << 20

// Limits are the HTTP server's bounds. Only the Functions host talks to
// the handler (127.0.0.1), so they guard against a stuck or broken peer,
// not against load.
type Limits struct {
	// ReadHeaderTimeout: the host writes its few headers at once.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading the whole request, body included: an
	// unfinished body (a peer that sent headers and stalled) gets 408 and
	// the connection is closed. A body of MaxBodyBytes over loopback takes
	// milliseconds. It does not limit the invocation: readBody reads every
	// body to its end before the route runs, and at that point net/http
	// clears the read deadline (it starts watching the idle connection
	// for a hang-up without one), so a long blob run keeps its context
	// (TestServerReadTimeoutSparesLongInvocation).
	ReadTimeout time.Duration
	// WriteTimeout bounds the response write, counted from the end of the
	// request headers, so it must outlast the longest legitimate
	// invocation: the host waits functionTimeout (host.json, 10 min; a
	// blob run may take minutes) + 1 min and then gives up on the
	// connection itself. 12 min never cuts off an invocation the host
	// still waits for, and still frees a connection whose peer stopped
	// reading the response.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections the host stopped using.
	IdleTimeout time.Duration
	// MaxHeaderBytes: the host sends half a dozen short headers.
	MaxHeaderBytes int
}

// DefaultLimits are the production limits.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      12 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// NewHTTPServer returns the handler's HTTP server with limits l (zero
// fields take DefaultLimits' values); the caller serves it on its
// listener.
func NewHTTPServer(d Deps, l Limits) *http.Server {
	def := DefaultLimits()
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = def.ReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = def.ReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = def.WriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = def.IdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = def.MaxHeaderBytes
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           NewServer(d),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(d.Log.Handler(), slog.LevelWarn),
	}
}

// readBody reads the whole request body, at most MaxBodyBytes, before any
// route runs: a declared or actual body past the bound answers 413, a
// body that stops coming before the server's ReadTimeout answers 408 (the
// connection is closed, as the body was not read to its end). Reading to
// the end also matters for long invocations: only then does net/http
// clear the ReadTimeout deadline and watch the connection for a hang-up,
// which cancels the request context as it should.
func readBody(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			log.WarnContext(r.Context(), "invocation body too large", "path", r.URL.Path, "bytes", r.ContentLength)
			writeError(w, http.StatusRequestEntityTooLarge, tooLarge)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				log.WarnContext(r.Context(), "invocation body too large", "path", r.URL.Path)
				writeError(w, http.StatusRequestEntityTooLarge, tooLarge)
			case errors.Is(err, os.ErrDeadlineExceeded):
				log.WarnContext(r.Context(), "invocation body not received in time", "path", r.URL.Path)
				writeError(w, http.StatusRequestTimeout, "request body not received in time")
			default:
				writeError(w, http.StatusBadRequest, "reading the request body failed")
			}
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

const tooLarge = "request body larger than 1 MiB (is the blob trigger's deferred binding on?)"
