// Package cli is the xelwatch binary's command line: Run dispatches the
// arguments to one of the subcommands (serve, decode, scan, rules, query,
// detections, cursors, watch, demo), and main only adds signals and exit
// codes. Every subcommand is a [Command], func(ctx, args, env, stdin,
// stdout, stderr) int, and takes its settings from env, never from the
// process environment (see handler/internal/config).
//
// serve (the custom handler the Functions host starts), query, detections
// and cursors live here; decode, scan and rules, watch and demo are
// implemented in handler/internal/xelcmd, detectcmd, watch and demo. The
// end-to-end tests, which drive the handler through the Functions host
// stand-in (handler/internal/testsupport/hostsim) against Azurite, live
// here too.
package cli
