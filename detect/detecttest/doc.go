// Package detecttest generates audit events that keep the windowed and
// correlation rules of package detect busy, for tests of the pipeline
// (interrupted and retried ingestion must give the findings of an
// uninterrupted one). It is test support: no shipped code imports it.
package detecttest
