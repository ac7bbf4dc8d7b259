// Package progress draws one line of progress for the long-running
// commands (decode, scan, watch --once, query) on their standard error:
// what is done, of what total, the rate and, when the total is known, the
// time left. It redraws the line in place with a carriage return at most
// a few times per second (Options.Every) and clears it at the end, so a
// terminal keeps no trace and standard output, which carries the data,
// never receives a byte of it.
//
// Whether to draw is [Writer]'s decision, from the XELWATCH_PROGRESS
// setting ([EnvVar]): "never", "always", or "auto" (the default), which
// draws only when standard error is a terminal and standard output is
// not one, so that neither pipes, files and CI logs nor data scrolling on
// the same screen get a progress line mixed in. The test for a terminal
// is the one the standard library allows without a dependency: an
// *os.File whose mode has os.ModeCharDevice, excluding the null device.
// Its limits: any other character device counts as a terminal (a serial
// line, /dev/tty* redirections); a writer that wraps the *os.File hides
// it; on Windows a console (and NUL, which is excluded) is a character
// device, but the pipes of mintty, Cygwin or MSYS terminals are not,
// so those need XELWATCH_PROGRESS=always.
//
// A [Meter] takes an injectable clock and writer, so its rendering is
// tested without time passing. A nil *Meter is valid and draws nothing,
// so a command calls it unconditionally.
package progress
