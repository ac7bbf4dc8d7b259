package azuritetest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
)

// envVar names the variable that holds the Azurite connection string.
const envVar = "XELWATCH_TEST_STORAGE"

// ConnString returns the storage connection string for integration tests.
func ConnString(t testing.TB) string {
	t.Helper()
	cs := os.Getenv(envVar)
	if cs == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: .ci/run must start Azurite for the integration tests", envVar)
		}
		t.Skipf("%s not set: run the tests through .ci/run to start Azurite", envVar)
	}
	return cs
}

// Name returns a fresh name made of prefix and random hex, valid as a
// table name (letters and digits) and as a container or queue name when
// prefix is lower case. Tests use it so that runs never share state.
func Name(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}
