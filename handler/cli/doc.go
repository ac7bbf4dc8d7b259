// Package cli implements the function app's subcommands of the xelwatch
// binary: serve (the custom handler the Functions host starts), query
// (AuditEvents rows) and detections (the Detections table). Each is a
// func(ctx, args, env, stdin, stdout, stderr) int like the other owners'
// subcommands; settings come from the environment (see handler/internal/config).
package cli
