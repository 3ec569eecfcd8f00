// Package wire holds Drover's wire types for migrators, generated from schemas/openapi.yaml
// (the same document as the server's pkg/api), so the SDK needs no other module.
package wire
