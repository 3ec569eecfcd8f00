// Package api holds Drover's wire types, generated from schemas/openapi.yaml, shared by the
// server, the migrator SDK and the tests.
package api

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../schemas/openapi.yaml
//go:generate go tool oapi-codegen -config wire-codegen.yaml ../../schemas/openapi.yaml
