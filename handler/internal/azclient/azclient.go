package azclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
)

// The retry policy of every client (see DefaultPolicy for the reasoning).
const (
	// TryTimeout bounds one try, response body included (the SDK cancels
	// the try's context when the body is closed). The largest transfers
	// are a 4 MiB range read and a 4 MiB table batch: in-region they take
	// well under a second, and 10 s still allows 400 KB/s.
	TryTimeout = 10 * time.Second
	// MaxRetries after the first try: on connection errors, timed-out
	// tries, 408, 429 and 5xx.
	MaxRetries = 3
	// RetryDelay is the base of the exponential back-off (1 s, 3 s, 7 s
	// with jitter 0.8-1.3), capped at MaxRetryDelay. A Retry-After
	// longer than MaxRetryDelay stops the retries and the error goes to
	// the caller (the host retries the invocation).
	RetryDelay    = time.Second
	MaxRetryDelay = 4 * time.Second
)

// Policy is the retry policy the clients are built with.
type Policy struct {
	TryTimeout    time.Duration
	MaxRetries    int32
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
}

// DefaultPolicy is the production policy. Its worst case (WorstCase:
// every try hung, longest back-off) is about 50 s: under half the cursor
// lease (ingest.DefaultLease, 2 min, renewed once half has passed), so an
// operation that hangs on every try fails while the run still holds its
// blob, and far under the function timeout (host.json, 10 min).
func DefaultPolicy() Policy {
	return Policy{TryTimeout: TryTimeout, MaxRetries: MaxRetries, RetryDelay: RetryDelay, MaxRetryDelay: MaxRetryDelay}
}

// orDefault returns DefaultPolicy for the zero Policy.
func (p Policy) orDefault() Policy {
	if p == (Policy{}) {
		return DefaultPolicy()
	}
	return p
}

// WorstCase is the longest an operation can take under p when every try
// times out: all tries plus the longest back-off between them.
func (p Policy) WorstCase() time.Duration {
	p = p.orDefault()
	d := time.Duration(p.MaxRetries+1) * p.TryTimeout
	for try := range p.MaxRetries {
		wait := time.Duration(float64(time.Duration(int64(1)<<(try+1)-1)*p.RetryDelay) * 1.3) // max jitter
		d += min(wait, p.MaxRetryDelay)
	}
	return d
}

// ClientOptions returns the azcore options of every client: p (the zero
// Policy means DefaultPolicy) as the retry policy, and the shared
// transport.
func ClientOptions(p Policy) azcore.ClientOptions {
	p = p.orDefault()
	return azcore.ClientOptions{Transport: transport, Retry: policy.RetryOptions{
		TryTimeout:    p.TryTimeout,
		MaxRetries:    p.MaxRetries,
		RetryDelay:    p.RetryDelay,
		MaxRetryDelay: p.MaxRetryDelay,
	}}
}

// MaxIdleConnsPerHost is how many idle connections to one service host
// the clients keep for reuse. A run has up to about 24 requests in
// flight to one account (row upserts, detection-state reads and
// transactions, blob range reads, the outbox); the SDK's default keeps
// 10, so the others were closed after each response and dialled again,
// a TCP and TLS handshake each.
const MaxIdleConnsPerHost = 64

// transport is the HTTP client of every client: the SDK's defaults
// (dial and TLS handshake timeouts, TLS 1.2 at least, the proxy from the
// environment) with MaxIdleConnsPerHost.
var transport = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	ForceAttemptHTTP2:     true,
	MaxIdleConns:          4 * MaxIdleConnsPerHost,
	MaxIdleConnsPerHost:   MaxIdleConnsPerHost,
	IdleConnTimeout:       90 * time.Second,
	TLSHandshakeTimeout:   10 * time.Second,
	ExpectContinueTimeout: time.Second,
	TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
}}

// Account says how to reach one storage account: a connection string, or
// a service URL per service with a token credential (managed identity).
type Account struct {
	// Name is the setting prefix, for errors (e.g. "AzureWebJobsStorage").
	Name             string
	ConnectionString string // secret: never echoed in errors
	BlobServiceURL   string
	QueueServiceURL  string
	TableServiceURL  string
	// Credential is used with the service URLs; Credentials builds it
	// when needed (nil Credential and nil Credentials: an error).
	Credential  azcore.TokenCredential
	Credentials func() (azcore.TokenCredential, error)
	Policy      Policy // zero: DefaultPolicy
}

// ErrMissingURL is wrapped when an identity-based account lacks the
// service URL a client needs.
var ErrMissingURL = errors.New("service URL required without a connection string")

// Tables builds the account's table service client.
func Tables(a Account) (*aztables.ServiceClient, error) {
	o := &aztables.ClientOptions{ClientOptions: ClientOptions(a.Policy)}
	o.PerRetryPolicies = append(o.PerRetryPolicies, capturePolicy{})
	return build(a, "table", a.TableServiceURL,
		func(cs string) (*aztables.ServiceClient, error) {
			return aztables.NewServiceClientFromConnectionString(cs, o)
		},
		func(u string, c azcore.TokenCredential) (*aztables.ServiceClient, error) {
			return aztables.NewServiceClient(u, c, o)
		})
}

// Queues builds the account's queue service client.
func Queues(a Account) (*azqueue.ServiceClient, error) {
	o := &azqueue.ClientOptions{ClientOptions: ClientOptions(a.Policy)}
	return build(a, "queue", a.QueueServiceURL,
		func(cs string) (*azqueue.ServiceClient, error) {
			return azqueue.NewServiceClientFromConnectionString(cs, o)
		},
		func(u string, c azcore.TokenCredential) (*azqueue.ServiceClient, error) {
			return azqueue.NewServiceClient(u, c, o)
		})
}

// Blobs builds the account's blob client.
func Blobs(a Account) (*azblob.Client, error) {
	o := &azblob.ClientOptions{ClientOptions: ClientOptions(a.Policy)}
	return build(a, "blob", a.BlobServiceURL,
		func(cs string) (*azblob.Client, error) { return azblob.NewClientFromConnectionString(cs, o) },
		func(u string, c azcore.TokenCredential) (*azblob.Client, error) { return azblob.NewClient(u, c, o) })
}

// build is the one construction path: connection string, else service
// URL and credential.
func build[C any](a Account, kind, serviceURL string,
	fromConn func(string) (C, error), fromCred func(string, azcore.TokenCredential) (C, error)) (C, error) {
	var zero C
	if a.ConnectionString != "" {
		c, err := fromConn(a.ConnectionString)
		if err != nil {
			// SDK errors may quote the connection string: name the
			// setting and the error's type only.
			return zero, fmt.Errorf("azclient: %s: %s client: malformed connection string (%T)", a.Name, kind, err)
		}
		return c, nil
	}
	if serviceURL == "" {
		return zero, fmt.Errorf("azclient: %s: %s client: %w", a.Name, kind, ErrMissingURL)
	}
	cred := a.Credential
	if cred == nil {
		if a.Credentials == nil {
			return zero, fmt.Errorf("azclient: %s: %s client: no credential", a.Name, kind)
		}
		var err error
		if cred, err = a.Credentials(); err != nil {
			return zero, err
		}
	}
	c, err := fromCred(serviceURL, cred)
	if err != nil {
		return zero, fmt.Errorf("azclient: %s: %s client: %w", a.Name, kind, err)
	}
	return c, nil
}

// captureKey is the context key of CaptureBody's slot.
type captureKey struct{}

type captured struct {
	max  int64
	body []byte
}

// CaptureBody returns a context under which the table clients built here
// keep a copy of the response body (at most max bytes; nothing when
// longer) of each try, for the caller to read through body after the
// call: what an operation's response holds that its SDK result does
// not (the ETags of a batch transaction's entities).
func CaptureBody(ctx context.Context, max int64) (_ context.Context, body func() []byte) {
	c := &captured{max: max}
	return context.WithValue(ctx, captureKey{}, c), func() []byte { return c.body }
}

// capturePolicy fills the CaptureBody slot of the request's context.
type capturePolicy struct{}

func (capturePolicy) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	c, ok := req.Raw().Context().Value(captureKey{}).(*captured)
	if !ok || err != nil || resp == nil || resp.Body == nil {
		return resp, err
	}
	c.body = nil
	orig := resp.Body
	b, rerr := io.ReadAll(io.LimitReader(orig, c.max+1))
	if rerr != nil {
		orig.Close()
		return resp, rerr
	}
	if int64(len(b)) > c.max {
		// Too long to keep: hand the caller the whole body all the same.
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), orig), orig}
		return resp, nil
	}
	orig.Close()
	c.body = b
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
