// Package app wires xelwatch's parts from a config.Config: storage
// clients, the store, the ingest pipeline (with the azblob range reader,
// the xel decoder and the detection engine) and the notifier. The custom
// handler (serve), the standalone runner (watch), the demo and the CLI
// share it, so that every entry point runs the same code.
package app
