package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gin-gonic/gin"
)

// validator checks every request against the OpenAPI document before a handler sees it.
type validator struct {
	router routers.Router
}

func newValidator(spec []byte) (*validator, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("invalid OpenAPI document: %w", err)
	}
	doc.Servers = nil // match any host
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route OpenAPI document: %w", err)
	}
	return &validator{router: router}, nil
}

// middleware answers 400 with a message naming the field when a request does not match the
// document; requests to paths the document does not know pass through (and meet NoRoute).
func (v *validator) middleware(c *gin.Context) {
	route, params, err := v.router.FindRoute(c.Request)
	if err != nil {
		c.Next()
		return
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    c.Request,
		PathParams: params,
		Route:      route,
		Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if err := openapi3filter.ValidateRequest(c.Request.Context(), in); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			abort(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than the limit of %d bytes", tooLarge.Limit), "")
			return
		}
		msg, field := describe(err)
		abort(c, http.StatusBadRequest, msg, field)
		return
	}
	c.Next()
}

// describe turns a kin-openapi validation error into a sentence for a person and the name of
// the offending field (a JSON path such as candidates[0].id, or a parameter name).
func describe(err error) (string, string) {
	var reqErr *openapi3filter.RequestError
	if !errors.As(err, &reqErr) {
		return err.Error(), ""
	}
	where := "request body"
	field := ""
	if p := reqErr.Parameter; p != nil {
		where = fmt.Sprintf("%s parameter %q", p.In, p.Name)
		field = p.Name
	}
	var schemaErr *openapi3.SchemaError
	if errors.As(reqErr.Err, &schemaErr) {
		path := jsonPath(schemaErr.JSONPointer())
		if path != "" {
			field = path
			where = fmt.Sprintf("field %q", path)
		}
		return fmt.Sprintf("%s: %s", where, schemaReason(schemaErr)), field
	}
	var parseErr *openapi3filter.ParseError
	if errors.As(reqErr.Err, &parseErr) {
		if raw, ok := parseErr.Value.(string); ok && reqErr.Parameter != nil && parseErr.Kind == openapi3filter.KindInvalidFormat {
			return fmt.Sprintf("%s: %q is not %s", where, raw, expected(parseErr.Reason)), field
		}
		var syntax *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		root := parseErr.RootCause()
		if errors.As(root, &syntax) || errors.As(root, &typeErr) || parseErr.Kind == openapi3filter.KindInvalidFormat {
			return fmt.Sprintf("%s is not valid JSON: %s", where, root.Error()), field
		}
		return fmt.Sprintf("%s: %s", where, parseErr.Error()), field
	}
	if errors.Is(reqErr.Err, openapi3filter.ErrInvalidRequired) || strings.Contains(reqErr.Error(), "value is required but missing") {
		return where + " is required", field
	}
	if errors.Is(reqErr.Err, openapi3filter.ErrInvalidEmptyValue) {
		return where + " must not be empty", field
	}
	if strings.Contains(reqErr.Reason, "header Content-Type") || strings.Contains(reqErr.Error(), "Content-Type") {
		return "request body must be JSON (Content-Type: application/json)", ""
	}
	if reqErr.Err != nil {
		return fmt.Sprintf("%s: %s", where, reqErr.Err.Error()), field
	}
	return fmt.Sprintf("%s: %s", where, reqErr.Reason), field
}

// expected turns kin-openapi's reason for a parameter it could not parse ("an invalid boolean")
// into what the parameter takes.
func expected(reason string) string {
	typ, ok := strings.CutPrefix(reason, "an invalid ")
	switch {
	case !ok:
		return "valid: " + reason
	case typ == "boolean":
		return "a boolean: expected true or false"
	case typ == "integer":
		return "an integer"
	}
	return "a valid " + typ
}

func schemaReason(e *openapi3.SchemaError) string {
	s := e.Schema
	switch e.SchemaField {
	case "required":
		// kin-openapi puts the missing property in the JSON pointer (so in the field name
		// already); its reason would repeat it.
		return "is required"
	case "nullable":
		return "must not be null"
	case "minLength":
		if s != nil && s.MinLength == 1 {
			return "must not be empty"
		}
	case "pattern":
		if s != nil && s.Description != "" {
			return fmt.Sprintf("%s is not valid: expected %s", quoteValue(e.Value), s.Description)
		}
	case "maxLength":
		if s != nil && s.Description != "" {
			return fmt.Sprintf("%s is too long: expected %s", quoteValue(e.Value), s.Description)
		}
	case "enum":
		if s != nil {
			allowed := make([]string, 0, len(s.Enum))
			for _, v := range s.Enum {
				allowed = append(allowed, fmt.Sprint(v))
			}
			return fmt.Sprintf("%s is not one of %s", quoteValue(e.Value), strings.Join(allowed, ", "))
		}
	case "type":
		if s != nil && s.Type != nil {
			return fmt.Sprintf("must be of type %s", strings.Join(s.Type.Slice(), " or "))
		}
	}
	return e.Reason
}

func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// jsonPath renders a JSON pointer's parts as candidates[0].id.
func jsonPath(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		if isIndex(p) {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
