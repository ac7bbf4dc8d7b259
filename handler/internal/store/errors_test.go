package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// batchFailureBody is the shape of a failed $batch response (HTTP 202):
// the failing operation's response inside the changeset.
const batchFailureBody = "--batchresponse_1\r\n" +
	"Content-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n" +
	"--changesetresponse_2\r\n" +
	"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
	"HTTP/1.1 409 Conflict\r\n" +
	"X-Content-Type-Options: nosniff\r\nDataServiceVersion: 3.0;\r\n" +
	"Content-Type: application/json;odata=minimalmetadata;streaming=true;charset=utf-8\r\n\r\n" +
	`{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US","value":"7:The specified entity already exists.\nRequestId:x"}}}` + "\r\n" +
	"--changesetresponse_2--\r\n--batchresponse_1--\r\n"

func responseError(t *testing.T, status int, header http.Header, body string) error {
	t.Helper()
	if header == nil {
		header = http.Header{}
	}
	req, _ := http.NewRequest(http.MethodPost, "https://acct.table.core.windows.net/T?sig=SECRET", nil)
	resp := &http.Response{StatusCode: status, Status: fmt.Sprintf("%d x", status), Header: header,
		Body: io.NopCloser(strings.NewReader(body)), Request: req}
	return runtime.NewResponseError(resp)
}

func TestClassify(t *testing.T) {
	code := func(c string) http.Header { h := http.Header{}; h.Set("x-ms-error-code", c); return h }
	tests := []struct {
		name       string
		err        error
		wantKind   error
		wantStatus int
		wantCode   string
		wantIndex  int
		transient  bool
	}{
		{"not found", responseError(t, 404, code("ResourceNotFound"), ""), ErrNotFound, 404, "ResourceNotFound", -1, false},
		{"exists", responseError(t, 409, code("EntityAlreadyExists"), ""), ErrConflict, 409, "EntityAlreadyExists", -1, false},
		{"etag", responseError(t, 412, code("UpdateConditionNotSatisfied"), ""), ErrConflict, 412, "UpdateConditionNotSatisfied", -1, false},
		{"table exists", responseError(t, 409, nil, `{"odata.error":{"code":"TableAlreadyExists"}}`), ErrConflict, 409, "TableAlreadyExists", -1, false},
		{"too large", responseError(t, 400, code("EntityTooLarge"), ""), ErrTooLarge, 400, "EntityTooLarge", -1, false},
		{"busy", responseError(t, 503, code("ServerBusy"), ""), nil, 503, "ServerBusy", -1, true},
		{"timeout", responseError(t, 500, code("OperationTimedOut"), ""), nil, 500, "OperationTimedOut", -1, true},
		{"throttled", responseError(t, 429, nil, ""), nil, 429, "", -1, true},
		{"bad request", responseError(t, 400, code("InvalidInput"), ""), nil, 400, "InvalidInput", -1, false},
		{"batch 202", responseError(t, 202, nil, batchFailureBody), ErrConflict, 409, "EntityAlreadyExists", 7, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(tt.err)
			var se *ServiceError
			if !errors.As(err, &se) {
				t.Fatalf("classify = %T %v, want *ServiceError", err, err)
			}
			if se.StatusCode != tt.wantStatus || se.ErrorCode != tt.wantCode || se.Index != tt.wantIndex {
				t.Errorf("got status %d code %q index %d, want %d %q %d", se.StatusCode, se.ErrorCode, se.Index, tt.wantStatus, tt.wantCode, tt.wantIndex)
			}
			for _, k := range []error{ErrNotFound, ErrConflict, ErrTooLarge} {
				if got, want := errors.Is(err, k), k == tt.wantKind; got != want {
					t.Errorf("errors.Is(%v) = %v, want %v", k, got, want)
				}
			}
			if got := IsTransient(err); got != tt.transient {
				t.Errorf("IsTransient = %v, want %v", got, tt.transient)
			}
			if got := IsTransient(tt.err); got != tt.transient {
				t.Errorf("IsTransient(raw) = %v, want %v", got, tt.transient)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "SECRET") {
				t.Errorf("error text is multi-line or carries the URL: %q", msg)
			}
		})
	}
}

func TestIsTransientNetwork(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"reset", fmt.Errorf("x: %w", syscall.ECONNRESET), true},
		{"deadline", context.DeadlineExceeded, true},
		{"canceled", context.Canceled, false},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"claimed", fmt.Errorf("x: %w", ErrClaimed), true},
		{"not found", ErrNotFound, false},
		{"plain", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTransient(tt.err); got != tt.want {
				t.Fatalf("IsTransient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestClassifyStripsURL(t *testing.T) {
	err := classify(&url.Error{Op: "Post", URL: "https://a.table.core.windows.net/?sig=SECRET", Err: syscall.ECONNREFUSED})
	if strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("URL leaked: %v", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) || !IsTransient(err) {
		t.Fatalf("cause lost: %v", err)
	}
}

func TestParseBatchFailure(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantOK     bool
		wantStatus int
		wantCode   string
		wantIndex  int
	}{
		{"conflict", batchFailureBody, true, 409, "EntityAlreadyExists", 7},
		{"success parts", strings.ReplaceAll(batchFailureBody, "409 Conflict", "204 No Content"), false, 0, "", -1},
		{"no json", "HTTP/1.1 400 Bad Request\r\n\r\n--changesetresponse_2--", true, 400, "", -1},
		{"garbage", "\x00\x01nothing", false, 0, "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, code, idx, ok := parseBatchFailure([]byte(tt.body))
			if ok != tt.wantOK || st != tt.wantStatus || code != tt.wantCode || idx != tt.wantIndex {
				t.Fatalf("got %d %q %d %v, want %d %q %d %v", st, code, idx, ok, tt.wantStatus, tt.wantCode, tt.wantIndex, tt.wantOK)
			}
		})
	}
}
