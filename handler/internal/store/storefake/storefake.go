package storefake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Tables is the fake service. Refuse returns the status and error code
// for an entity of a transaction (0: accept); the whole transaction then
// fails, naming the failing operation in the error message ("3:…") unless
// NoIndex is set. Requests other than $batch are answered 501.
type Tables struct {
	Refuse  func(pk, rk string, body []byte) (status int, code string)
	NoIndex bool

	mu   sync.Mutex
	rows map[string]map[string]any // "pk/rk" → properties
}

// ServiceClient returns a client whose requests go to f (no retries).
func (f *Tables) ServiceClient(t testing.TB) *aztables.ServiceClient {
	t.Helper()
	svc, err := aztables.NewServiceClientWithNoCredential("https://fake.table.core.windows.net/", &aztables.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: f, Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// Row returns the properties stored under pk, rk (nil: none).
func (f *Tables) Row(pk, rk string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rows[pk+"/"+rk]
}

// Len returns the number of entities stored.
func (f *Tables) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rows)
}

// Do implements policy.Transporter.
func (f *Tables) Do(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "$batch") {
		return respond(req, http.StatusNotImplemented, nil, ""), nil
	}
	type op struct {
		pk, rk string
		props  map[string]any
		body   []byte
	}
	var ops []op
	_, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	outer := multipart.NewReader(req.Body, params["boundary"])
	part, err := outer.NextPart()
	if err != nil {
		return nil, err
	}
	_, cs, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	inner := multipart.NewReader(part, cs["boundary"])
	for {
		p, err := inner.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		r, err := http.ReadRequest(bufio.NewReader(p))
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(r.Body)
		var props map[string]any
		if err := json.Unmarshal(body, &props); err != nil {
			return nil, err
		}
		pk, _ := props["PartitionKey"].(string)
		rk, _ := props["RowKey"].(string)
		ops = append(ops, op{pk: pk, rk: rk, props: props, body: body})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rows == nil {
		f.rows = map[string]map[string]any{}
	}
	for i, o := range ops {
		if f.Refuse == nil {
			break
		}
		if st, code := f.Refuse(o.pk, o.rk, o.body); st != 0 {
			msg := "The entity is refused."
			if !f.NoIndex {
				msg = fmt.Sprintf("%d:%s", i, msg)
			}
			body := "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n" +
				"--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
				fmt.Sprintf("HTTP/1.1 %d %s\r\n", st, http.StatusText(st)) +
				"Content-Type: application/json;odata=minimalmetadata;streaming=true;charset=utf-8\r\n\r\n" +
				fmt.Sprintf(`{"odata.error":{"code":%q,"message":{"lang":"en-US","value":%q}}}`, code, msg) + "\r\n" +
				"--changesetresponse_2--\r\n--batchresponse_1--\r\n"
			return respond(req, http.StatusAccepted, http.Header{"Content-Type": {"multipart/mixed; boundary=batchresponse_1"}}, body), nil
		}
	}
	var b strings.Builder
	b.WriteString("--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n")
	for _, o := range ops {
		f.rows[o.pk+"/"+o.rk] = o.props
		b.WriteString("--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
			"HTTP/1.1 204 No Content\r\nDataServiceVersion: 1.0;\r\n\r\n\r\n")
	}
	b.WriteString("--changesetresponse_2--\r\n--batchresponse_1--\r\n")
	return respond(req, http.StatusAccepted, http.Header{"Content-Type": {"multipart/mixed; boundary=batchresponse_1"}}, b.String()), nil
}

func respond(req *http.Request, status int, h http.Header, body string) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), Header: h,
		Body: io.NopCloser(bytes.NewReader([]byte(body))), Request: req, ContentLength: int64(len(body))}
}
