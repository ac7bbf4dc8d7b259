// Package azuritetest gives tests the connection string of the Azurite
// instance that .ci/run starts (XELWATCH_TEST_STORAGE). Without it a test
// is skipped on a developer machine and fails in CI, so an integration test
// can never pass by not running.
package azuritetest
