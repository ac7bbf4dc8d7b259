// Package logctx carries per-invocation log attributes (invocation_id,
// function) in a context, and a slog.Handler that adds them to every
// record logged with that context, so that code deep in the pipeline logs
// with the invocation's identity without being handed a logger.
package logctx
