package logctx

import (
	"context"
	"io"
	"log/slog"
)

type key struct{}

// With returns ctx carrying attrs in addition to those already there.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	old, _ := ctx.Value(key{}).([]slog.Attr)
	n := make([]slog.Attr, 0, len(old)+len(attrs))
	n = append(append(n, old...), attrs...)
	return context.WithValue(ctx, key{}, n)
}

// Attrs returns the attributes ctx carries.
func Attrs(ctx context.Context) []slog.Attr {
	a, _ := ctx.Value(key{}).([]slog.Attr)
	return a
}

// Handler adds the context's attributes to each record.
type Handler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	if a := Attrs(ctx); len(a) > 0 {
		r = r.Clone()
		r.AddAttrs(a...)
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h Handler) WithAttrs(as []slog.Attr) slog.Handler { return Handler{h.Handler.WithAttrs(as)} }

// WithGroup implements slog.Handler.
func (h Handler) WithGroup(name string) slog.Handler { return Handler{h.Handler.WithGroup(name)} }

// New returns the JSON logger xelwatch uses: one JSON object per line on
// w (stdout: the Functions host forwards each line), with the context's
// attributes.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(Handler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}
