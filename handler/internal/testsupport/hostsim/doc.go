// Package hostsim is a test stand-in for the Azure Functions host (which
// cannot run on the build machines): it waits for a custom handler the way
// the host does (GET / every 25 ms until any HTTP answer, 30 s), posts
// invocations encoded as the host encodes them (every string JSON-encoded
// twice, numbers as strings, keys ending in "trigger" dropped, a sys
// object), and interprets answers like the host: non-2xx or a non-JSON
// body fails the invocation and discards Outputs and Logs; a failed blob
// invocation is retried up to PoisonThreshold times, then recorded as a
// poison blob; a failed queue message reappears after its visibility
// timeout and moves to <queue>-poison after MaxDequeueCount deliveries;
// queue outputs become one base64 message per array element; an Event
// Grid event (eventgrid.go) arrives as its indented JSON text encoded
// twice in Data.event and is delivered again while the invocation fails.
//
// The behaviour reproduced is the host's (Azure/azure-functions-host):
// readiness and environment in Workers/Http/HttpWorkerProcess.cs, the
// value encoding in Workers/MessageExtensions/
// ScriptInvocationContextExtensions.cs, the JSON queue message merge in
// Utility.ApplyBindingData; retries and poison queues as documented for
// the Blob and Queue storage bindings (5 tries, then webjobs-blobtrigger-
// poison or <queue>-poison). The real host cannot run on the build
// machines: Core Tools only downloads it from a CDN they cannot reach.
// handler/testdata holds the golden bodies it is checked against, each traced
// to a real capture or the host source.
package hostsim
