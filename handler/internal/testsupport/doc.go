// Package testsupport holds what the tests of several handler packages
// share: NoHang here, and in its subpackages the Functions host stand-in
// (hostsim), the Azurite connection (azuritetest) and the ingest bench
// (bench). Tests only: nothing in the shipped binary imports it
// (deps_test.go checks).
package testsupport
