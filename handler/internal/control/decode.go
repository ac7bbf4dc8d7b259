package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/eventgrid/azsystemevents"
	"github.com/xelwatch/xelwatch/detect"
)

// Bounds of a decoded event. Event Grid delivers events of at most 1 MB.
const (
	MaxEventBytes = 1 << 20
	maxField      = 256  // ids, operation, status, caller parts, IP
	maxResource   = 1024 // resource ids, URLs, subjects
)

// ErrMalformed marks an event that can never be processed: retrying it
// changes nothing.
var ErrMalformed = errors.New("control: malformed event")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// clean bounds s to n bytes (cut on a rune boundary, "…" appended), makes
// it valid UTF-8 and replaces control characters (new lines included) so
// that a value cannot forge a log line or a notification layout.
func clean(s string, n int) string {
	if len(s) > 4*n {
		s = s[:4*n]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return '\uFFFD'
			}
			return r
		}, s)
	}
	if len(s) <= n {
		return s
	}
	n -= len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func str(p *string, n int) string {
	if p == nil {
		return ""
	}
	return clean(*p, n)
}

// Event is a decoded event: the rule input and what the application
// needs to enrich it.
type Event struct {
	detect.ControlEvent
	// BlobContainer and BlobName are set for BlobDeleted events (from the
	// subject /blobServices/default/containers/<c>/blobs/<name>), raw (a
	// name may hold any character the storage service accepts): the
	// caller bounds them (ingest.MaxNameLength) and looks the cursor up
	// by the exact name; rules print them through printable.
	BlobContainer string
	BlobName      string
}

// resourceData is the common shape of the six Resource Manager event
// data types (their fields are identical, so they convert to each other).
type resourceData = azsystemevents.ResourceWriteSuccessEventData

// Decode parses one Event Grid event (Event Grid schema).
func Decode(raw []byte) (*Event, error) {
	if len(raw) > MaxEventBytes {
		return nil, malformed("event of %d bytes (limit %d)", len(raw), MaxEventBytes)
	}
	var env azsystemevents.EventGridEvent
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, malformed("envelope: %s", clean(err.Error(), maxField))
	}
	data, _ := env.Data.([]byte)
	switch {
	case env.ID == nil || *env.ID == "":
		return nil, malformed("no id")
	case env.EventType == nil || *env.EventType == "":
		return nil, malformed("no eventType")
	case env.EventTime == nil || env.EventTime.IsZero():
		return nil, malformed("no eventTime")
	case len(data) == 0 || string(data) == "null":
		return nil, malformed("no data")
	}
	ev := &Event{ControlEvent: detect.ControlEvent{
		ID:      str(env.ID, maxField),
		Type:    str(env.EventType, maxField),
		Time:    env.EventTime.UTC(),
		Subject: str(env.Subject, maxResource),
		Topic:   str(env.Topic, maxResource),
	}}
	var err error
	switch *env.EventType {
	case detect.EventBlobDeleted:
		subject := ""
		if env.Subject != nil && len(*env.Subject) <= 8<<10 {
			subject = *env.Subject // raw: the blob name as stored, for the cursor lookup
		}
		err = ev.blobDeleted(data, subject)
	case detect.EventResourceWriteSuccess:
		err = ev.resource(data, func(b []byte) (resourceData, error) {
			var d azsystemevents.ResourceWriteSuccessEventData
			err := json.Unmarshal(b, &d)
			return d, err
		})
	case detect.EventResourceWriteFailure:
		err = ev.resource(data, func(b []byte) (resourceData, error) {
			var d azsystemevents.ResourceWriteFailureEventData
			err := json.Unmarshal(b, &d)
			return resourceData(d), err
		})
	case detect.EventResourceDeleteSuccess:
		err = ev.resource(data, func(b []byte) (resourceData, error) {
			var d azsystemevents.ResourceDeleteSuccessEventData
			err := json.Unmarshal(b, &d)
			return resourceData(d), err
		})
	case detect.EventResourceDeleteFailure:
		err = ev.resource(data, func(b []byte) (resourceData, error) {
			var d azsystemevents.ResourceDeleteFailureEventData
			err := json.Unmarshal(b, &d)
			return resourceData(d), err
		})
	case detect.EventResourceActionSuccess:
		err = ev.resource(data, func(b []byte) (resourceData, error) {
			var d azsystemevents.ResourceActionSuccessEventData
			err := json.Unmarshal(b, &d)
			return resourceData(d), err
		})
	case detect.EventResourceActionFailure:
		err = ev.resource(data, func(b []byte) (resourceData, error) {
			var d azsystemevents.ResourceActionFailureEventData
			err := json.Unmarshal(b, &d)
			return resourceData(d), err
		})
	default:
		return ev, nil // not watched: the caller ignores it
	}
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// resource decodes Resource Manager event data. The claims are read
// apart, leniently (values that are not strings are skipped): a token
// claim of an unexpected shape must not turn an audit change into a
// dropped "malformed" event. The rest goes through the SDK type, whose
// wrong field types are malformed.
func (ev *Event) resource(data []byte, decode func([]byte) (resourceData, error)) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return malformed("data is not an object")
	}
	claims := map[string]string{}
	if raw, ok := fields["claims"]; ok {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil {
			for _, k := range claimKeys {
				var s string
				if v, ok := m[k]; ok && json.Unmarshal(v, &s) == nil {
					claims[k] = s
				}
			}
		}
		delete(fields, "claims")
	}
	rest, err := json.Marshal(fields)
	if err != nil {
		return malformed("data: %s", clean(err.Error(), maxField))
	}
	d, err := decode(rest)
	if err != nil {
		return malformed("data: %s", clean(err.Error(), maxField))
	}
	if d.OperationName == nil || *d.OperationName == "" {
		return malformed("no data.operationName")
	}
	ev.Operation = str(d.OperationName, maxField)
	ev.Resource = str(d.ResourceURI, maxResource)
	ev.Status = str(d.Status, maxField)
	ev.CorrelationID = str(d.CorrelationID, maxField)
	if d.HTTPRequest != nil {
		ev.CallerIP = str(d.HTTPRequest.ClientIPAddress, maxField)
	}
	ev.Caller = caller(claims)
	return nil
}

// Claims naming the caller, in order of preference.
const (
	claimUPN  = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	claimName = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	claimOID  = "http://schemas.microsoft.com/identity/claims/objectidentifier"
)

var claimKeys = []string{claimUPN, "upn", claimName, "name", "unique_name", "appid", "azp", claimOID, "oid"}

// caller renders who acted: "<upn or name> (app <appid>, oid <oid>)".
func caller(c map[string]string) string {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := clean(strings.TrimSpace(c[k]), maxField/2); v != "" {
				return v
			}
		}
		return ""
	}
	who := first(claimUPN, "upn", claimName, "name", "unique_name")
	var extra []string
	if app := first("appid", "azp"); app != "" {
		extra = append(extra, "app "+app)
	}
	if oid := first(claimOID, "oid"); oid != "" {
		extra = append(extra, "oid "+oid)
	}
	switch {
	case who == "" && len(extra) == 0:
		return ""
	case who == "":
		return clean(strings.Join(extra, ", "), maxField)
	case len(extra) == 0:
		return who
	}
	return clean(who+" ("+strings.Join(extra, ", ")+")", maxField)
}

// blobDeleted decodes Microsoft.Storage.BlobDeleted data; the blob is
// named by the subject, which the storage service writes.
func (ev *Event) blobDeleted(data []byte, subject string) error {
	var d azsystemevents.StorageBlobDeletedEventData
	if err := json.Unmarshal(data, &d); err != nil {
		return malformed("data: %s", clean(err.Error(), maxField))
	}
	ev.Operation = str(d.API, maxField)
	ev.Resource = str(d.URL, maxResource)
	ev.Caller = str(d.Identity, maxField)
	ev.CorrelationID = str(d.RequestID, maxField)
	ev.Status = "Succeeded"
	const pre = "/blobServices/default/containers/"
	rest, ok := strings.CutPrefix(subject, pre)
	if !ok {
		return malformed("subject %q is not a blob", clean(subject, maxField))
	}
	c, name, ok := strings.Cut(rest, "/blobs/")
	if !ok || c == "" || name == "" {
		return malformed("subject %q names no blob", clean(subject, maxField))
	}
	ev.BlobContainer, ev.BlobName = c, name
	return nil
}

// blobCreated reads the creation time Azure SQL puts in an audit file's
// path: <date>/<hh_mm_ss_ms>_<n>.xel (false when the name does not say).
func blobCreated(date, file string) (time.Time, bool) {
	d, err := time.Parse("2006-01-02", date)
	if err != nil {
		return time.Time{}, false
	}
	parts := strings.SplitN(file, "_", 5)
	if len(parts) < 4 {
		return time.Time{}, false
	}
	t, err := time.Parse("15_04_05", strings.Join(parts[:3], "_"))
	if err != nil {
		return time.Time{}, false
	}
	return d.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second), true
}
