// Package infra holds xelwatch's Azure deployment: Bicep (main.bicep,
// modules/), the one-command deploy script (deploy.sh), T-SQL to point SQL
// Managed Instance and SQL Server auditing at it (sql/), and offline checks
// (check.sh, check/). See README.md.
//
// The package has no Go code of its own; its tests (infra_test.go) keep the
// Bicep app settings and the settings the app's config reads in step: every
// environment variable handler/config.Config reads is set in main.bicep and
// every setting main.bicep gives the binary is read, secrets are Key Vault
// references, and Bicep parameter defaults equal the config defaults.
package infra
