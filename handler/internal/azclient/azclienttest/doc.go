// Package azclienttest is a storage server that never answers, for tests
// that prove a client is cut off per try and retried (package azclient).
// Tests only: nothing in the shipped binary imports it.
package azclienttest
