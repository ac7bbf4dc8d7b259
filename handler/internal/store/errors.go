package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/xelwatch/xelwatch/handler/internal/ingest"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFound: the entity (or table) does not exist. It is
	// ingest.ErrNotFound, so that what the store returns through
	// [Cursors] satisfies the pipeline's contract without translation.
	ErrNotFound = ingest.ErrNotFound
	// ErrConflict: the entity already exists, or its ETag changed since it
	// was read (another writer won). It is ingest.ErrConflict.
	ErrConflict = ingest.ErrConflict
	// ErrTooLarge: an entity would exceed a service limit (1 MiB, 252
	// properties, 32,767 UTF-16 code units in one piece of a key).
	ErrTooLarge = errors.New("store: entity too large")
	// ErrDelivered: ClaimDelivery found the channel already delivered.
	ErrDelivered = errors.New("store: already delivered")
	// ErrClaimed: ClaimDelivery found a live claim by another invocation;
	// retry after the lease expires. IsTransient reports true for it.
	ErrClaimed = errors.New("store: delivery claimed by another invocation")
	// ErrClaimLost: MarkDelivered/MarkFailed found that the claim was
	// re-taken after its lease expired.
	ErrClaimLost = errors.New("store: delivery claim lost")
)

// ServiceError is a failed request to the Table service, reduced to what
// is safe and useful to log. For a failed transaction it carries the
// status and code of the failing operation inside the changeset and its
// index in the batch (-1 otherwise).
type ServiceError struct {
	StatusCode int    // HTTP status (the inner one for a transaction)
	ErrorCode  string // service error code, e.g. "EntityAlreadyExists"; may be empty
	Index      int    // failing operation of a transaction, -1 if unknown or not a batch
	kind       error  // ErrNotFound, ErrConflict, ErrTooLarge or nil
	err        error  // the *azcore.ResponseError
}

func (e *ServiceError) Error() string {
	var b strings.Builder
	b.WriteString("table service: status ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.ErrorCode != "" {
		b.WriteString(" ")
		b.WriteString(e.ErrorCode)
	}
	if e.Index >= 0 {
		b.WriteString(" (batch operation ")
		b.WriteString(strconv.Itoa(e.Index))
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap gives errors.Is/As the sentinel and the underlying
// *azcore.ResponseError.
func (e *ServiceError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// netError replaces a *url.Error so that the request URL (which carries a
// SAS token with some credentials) never reaches an error string.
type netError struct {
	op  string
	err error
}

func (e *netError) Error() string { return "table service: " + e.op + ": " + e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// classify maps an error returned by aztables to our error values; nil
// stays nil. Everything the store returns has gone through it.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		se := &ServiceError{StatusCode: re.StatusCode, ErrorCode: re.ErrorCode, Index: -1, err: re}
		if re.StatusCode == http.StatusAccepted || (re.ErrorCode == "" && re.RawResponse != nil) {
			// A failed transaction: HTTP 202 with the failing
			// operation's response inside the multipart body.
			if body, perr := runtime.Payload(re.RawResponse); perr == nil {
				if st, code, idx, ok := parseBatchFailure(body); ok {
					se.StatusCode, se.ErrorCode, se.Index = st, code, idx
				}
			}
		}
		se.kind = kindOf(se.StatusCode, se.ErrorCode)
		return se
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &netError{op: ue.Op, err: ue.Err}
	}
	return err
}

func kindOf(status int, code string) error {
	switch code {
	case "EntityNotFound", "ResourceNotFound", "TableNotFound":
		return ErrNotFound
	case "EntityAlreadyExists", "TableAlreadyExists", "UpdateConditionNotSatisfied", "ConditionNotMet":
		return ErrConflict
	case "EntityTooLarge", "PropertyValueTooLarge", "TooManyProperties", "RequestBodyTooLarge", "KeyValueTooLarge":
		return ErrTooLarge
	}
	switch status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict, http.StatusPreconditionFailed:
		return ErrConflict
	case http.StatusRequestEntityTooLarge:
		return ErrTooLarge
	}
	return nil
}

// maxBatchBody bounds how much of a transaction response we parse.
const maxBatchBody = 1 << 20

// parseBatchFailure finds the first inner response with a status >= 400 in
// a $batch response body and returns its status, its odata.error code and
// the operation index the service reports in the message ("3:The
// specified entity already exists."), or -1.
func parseBatchFailure(body []byte) (status int, code string, index int, ok bool) {
	if len(body) > maxBatchBody {
		body = body[:maxBatchBody]
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), maxBatchBody)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("HTTP/1.")) {
			continue
		}
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		st, err := strconv.Atoi(f[1])
		if err != nil || st < 400 {
			continue
		}
		status, index, ok = st, -1, true
		// The odata.error JSON follows the inner headers.
		for sc.Scan() {
			l := bytes.TrimSpace(sc.Bytes())
			if !bytes.HasPrefix(l, []byte("{")) {
				if bytes.HasPrefix(l, []byte("--")) {
					break
				}
				continue
			}
			var e struct {
				OData struct {
					Code    string `json:"code"`
					Message struct {
						Value string `json:"value"`
					} `json:"message"`
				} `json:"odata.error"`
			}
			if json.Unmarshal(l, &e) == nil {
				code = e.OData.Code
				msg := e.OData.Message.Value
				if i := strings.IndexByte(msg, ':'); i > 0 {
					if n, err := strconv.Atoi(msg[:i]); err == nil {
						index = n
					}
				}
			}
			break
		}
		return status, code, index, ok
	}
	return 0, "", -1, false
}

// transientCodes are service error codes worth a retry.
var transientCodes = map[string]bool{
	"ServerBusy":          true,
	"OperationTimedOut":   true,
	"InternalError":       true,
	"TableBeingDeleted":   true,
	"ServiceUnavailable":  true,
	"TooManyRequests":     true,
	"RequestTimeout":      true,
	"GatewayTimeout":      true,
	"BadGateway":          true,
	"InternalServerError": true,
}

// IsTransient reports whether err is worth retrying later: throttling and
// server errors (408, 429, 500, 502, 503, 504, ServerBusy,
// OperationTimedOut), a request timeout or deadline, a refused, reset or
// broken connection, a truncated response, or a delivery claimed by a
// concurrent invocation. Cancellation by the caller is not transient.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrClaimed) {
		return true
	}
	var se *ServiceError
	if errors.As(err, &se) {
		if transientCodes[se.ErrorCode] {
			return true
		}
		switch se.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return IsTransient(classify(re))
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true // dial, read or write failure on the connection
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsTemporary || de.IsTimeout || de.IsNotFound
	}
	return false
}

// LogAttrs returns StatusCode and ErrorCode of a service error for a log
// record (the house rule: never log the multi-line azcore dump), or just
// the error text for anything else.
func LogAttrs(err error) []any {
	var se *ServiceError
	if errors.As(err, &se) {
		return []any{"status", se.StatusCode, "code", se.ErrorCode, "error", err.Error()}
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return []any{"status", re.StatusCode, "code", re.ErrorCode}
	}
	return []any{"error", fmt.Sprint(err)}
}
