package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/xelwatch/xelwatch/detect"
	"github.com/xelwatch/xelwatch/handler/internal/ingest"
)

// Cursors is the read-only cursor lookup AUD-013 needs (store.Cursors).
type Cursors interface {
	Get(ctx context.Context, blob string) (ingest.Cursor, error)
}

// StateReader reads the auditing policy of the server (or database) an
// audit-settings event names. It never fails: without permission, on a
// timeout or any error it answers AuditStateUnknown and a short note.
type StateReader interface {
	AuditState(ctx context.Context, resourceURI string) (detect.AuditState, string)
}

// Processor runs one event through the platform rules.
type Processor struct {
	Rules     *detect.Control
	Cursors   Cursors
	Container string // the audit container
	// State, when set, is asked after an audit-settings write (AUD-008).
	State StateReader
	// Sink records findings before the invocation answers (the outbox;
	// nil: none), as ingestion does: the queue output is applied only
	// after the answer.
	Sink func(ctx context.Context, fs []detect.Finding) error
	Log  *slog.Logger
}

// Outcomes of Process.
const (
	OutcomeFindings = "findings"
	OutcomeNone     = "no finding"
	OutcomeIgnored  = "ignored" // an event type or operation no rule watches
)

// Result is what one event gave.
type Result struct {
	Outcome  string
	Type     string
	Op       string
	Findings []detect.Finding
}

// Process decodes raw and evaluates it. ErrMalformed (wrapped) is
// permanent; any other error is transient (the host fails the invocation
// and Event Grid delivers again).
func (p *Processor) Process(ctx context.Context, raw []byte) (Result, error) {
	ev, err := Decode(raw)
	if err != nil {
		return Result{}, err
	}
	res := Result{Type: ev.Type, Op: ev.Operation}
	switch {
	case ev.Type == detect.EventBlobDeleted:
		if err := p.blob(ctx, ev); err != nil {
			return res, err
		}
		if ev.Blob == nil {
			res.Outcome = OutcomeIgnored
			return res, nil
		}
	case detect.ControlRuleFor(ev.Operation) == "":
		res.Outcome = OutcomeIgnored
		if p.Log != nil {
			p.Log.DebugContext(ctx, "event not watched", "event_type", ev.Type, "operation", ev.Operation, "event_id", ev.ID)
		}
		return res, nil
	case detect.ControlRuleFor(ev.Operation) == "AUD-008" && p.State != nil && !isFailure(ev.Type):
		ev.AuditState, ev.AuditStateNote = p.State.AuditState(ctx, ev.Resource)
	}
	fs, err := p.Rules.Evaluate(ctx, &ev.ControlEvent)
	if err != nil {
		return res, fmt.Errorf("control: evaluate %s: %w", ev.ID, err)
	}
	if len(fs) > 0 && p.Sink != nil {
		if err := p.Sink(ctx, fs); err != nil {
			return res, fmt.Errorf("control: record findings: %w", err)
		}
	}
	res.Findings = fs
	res.Outcome = OutcomeNone
	if len(fs) > 0 {
		res.Outcome = OutcomeFindings
	}
	return res, nil
}

func isFailure(typ string) bool {
	return len(typ) > 7 && typ[len(typ)-7:] == "Failure"
}

// blob fills ev.Blob for a deletion in the audit container (nil
// otherwise): the cursor (read only) and the age from the file name.
func (p *Processor) blob(ctx context.Context, ev *Event) error {
	if ev.BlobContainer != p.Container || ev.BlobName == "" || len(ev.BlobName) > ingest.MaxNameLength {
		return nil
	}
	b := &detect.DeletedBlob{Container: ev.BlobContainer, Name: ev.BlobName}
	path, perr := ingest.ParsePath(ev.BlobName)
	if perr == nil {
		b.Server, b.Database = clean(path.Server, maxField), clean(path.Database, maxField)
		if created, ok := blobCreated(path.Date, path.File); ok {
			b.Age, b.AgeKnown = ev.Time.Sub(created), true
			if b.Age < 0 {
				b.Age = 0
			}
		}
	}
	c, err := p.Cursors.Get(ctx, ev.BlobName)
	switch {
	case errors.Is(err, ingest.ErrNotFound):
	case err != nil:
		return fmt.Errorf("control: cursor of %s: %w", clean(b.Name, maxResource), err)
	default:
		b.Seen, b.Open, b.Rows = true, c.State == ingest.StateOpen, c.Rows
	}
	ev.Blob = b
	return nil
}

// MinAge is the default XELWATCH_DELETE_MIN_AGE.
const MinAge = 24 * time.Hour
