//go:build !unix

package auditfile

// openFlags: opening does not block on these systems' files.
const openFlags = 0
