// Package schemas embeds the OpenAPI document so the server can validate requests against it.
package schemas

import _ "embed"

// OpenAPI is the raw OpenAPI 3 document, schemas/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
