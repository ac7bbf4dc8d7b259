package logctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestHandlerAddsContextAttrs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := New(&buf, slog.LevelInfo)
	ctx := With(context.Background(), slog.String("invocation_id", "abc"), slog.String("function", "AuditBlob"))
	l.With("component", "ingest").InfoContext(ctx, "hello", "rows", 3)
	l.DebugContext(ctx, "hidden")
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	want := map[string]any{"invocation_id": "abc", "function": "AuditBlob", "component": "ingest", "msg": "hello", "rows": float64(3)}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
