//go:build serveonly

package main

// embedded is empty in a serve-only build: no dev or bench command, no Temporal server linked.
type embedded struct{}
