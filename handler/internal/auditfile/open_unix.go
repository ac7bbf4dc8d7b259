//go:build unix

package auditfile

import "syscall"

// openFlags make open(2) return at once on a FIFO (and never make a
// terminal the controlling one); reads of a regular file ignore them.
const openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY
