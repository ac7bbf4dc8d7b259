// Package config reads xelwatch's settings from the environment (app
// settings in Azure, local.settings.json under Core Tools, the shell for the
// CLI) with go-envconfig, once, at start, and validates them so that a
// mistake is reported by setting name before any work starts.
//
// Storage is reached either with a connection string (Azurite, local runs:
// AzureWebJobsStorage, AuditStorage) or with an identity, using the same
// setting names the Functions host uses for identity-based connections
// (<Connection>__blobServiceUri, __queueServiceUri, __tableServiceUri,
// __credential, __clientId). Secrets are of type redact.Secret, which never
// reaches a log.
//
// Config is the one settings tree: the notification settings (Notify,
// whose Channels builds package notify's channels) are read here, and
// package notify takes plain values; the detection settings (Detect,
// including the rules file, which is read here) likewise become a plain
// detect.Config (Config.Detect). XELWATCH_SILENCE_MAX_GAP is parsed into a
// SilencePolicy (Config.Silence, see ParseSilence for the syntax);
// XELWATCH_HEARTBEAT is a period (both off by default).
package config
