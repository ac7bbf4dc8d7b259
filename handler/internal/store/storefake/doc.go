// Package storefake is a Table service for tests: it answers entity group
// transactions ($batch of InsertReplace) atomically, as the service does,
// and refuses the entities a test chooses, so that the store's handling of
// permanent per-entity refusals can be tested without a service that
// refuses on demand. Only tests import it.
package storefake
