// Package azclient is the one place where xelwatch builds Azure Storage
// clients (tables, queues, blobs), so that every client of the process,
// the function app's, the watch command's and the CLI's alike, runs with
// the same retry policy: a bound on each try, so that a request to a
// server that accepted the connection and then never answers is cut off
// and retried instead of holding the invocation until the host kills it.
//
// Without it the SDK's defaults apply, and they have no per-try timeout
// (policy.RetryOptions.TryTimeout zero) and an HTTP transport without a
// response-header timeout: one hung connection blocks its caller forever.
package azclient
