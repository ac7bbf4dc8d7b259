// Package redact holds Secret, the type of every setting that must never
// reach a log, an error message or an encoded document: storage
// connection strings with account keys, webhook URLs with tokens in them,
// the webhook signing key.
//
// It is a leaf package of package config so that package notify, which
// config imports to build the notification channels, takes the same type.
package redact
