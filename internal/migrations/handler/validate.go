package handler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gin-gonic/gin"

	"github.com/drover-dev/drover/internal/migrations/handler/jsonbody"
)

// BodyLimits are the bounds every JSON request body meets beyond its schema (documented in the
// spec's introduction).
var BodyLimits = jsonbody.Limits{MaxDepth: 32, MaxKeyLength: 256}

// validator checks every request against the OpenAPI document before a handler sees it:
// parameters with kin-openapi, JSON bodies with a streaming validator that fails at the first
// value beyond a bound, so that no request costs memory out of proportion to its size.
type validator struct {
	router routers.Router
	bodies map[*openapi3.Operation]bodySchema
	routes map[string]route // by method and Gin path
}

// bodySchema is an operation's compiled JSON request body schema.
type bodySchema struct {
	check    *jsonbody.Validator
	required bool
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
	bodies := map[*openapi3.Operation]bodySchema{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			media := op.RequestBody.Value.Content.Get("application/json")
			if media == nil || media.Schema == nil || media.Schema.Value == nil {
				return nil, fmt.Errorf("%s %s: request body is not a JSON schema", method, path)
			}
			check, err := jsonbody.Compile(media.Schema.Value, BodyLimits)
			if err != nil {
				return nil, fmt.Errorf("%s %s: request body schema: %w", method, path, err)
			}
			bodies[op] = bodySchema{check: check, required: op.RequestBody.Value.Required}
		}
	}
	routes, err := routesOf(doc)
	if err != nil {
		return nil, err
	}
	return &validator{router: router, bodies: bodies, routes: routes}, nil
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
		Options: &openapi3filter.Options{
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			ExcludeRequestBody: true, // checked below, as a stream
		},
	}
	if err := openapi3filter.ValidateRequest(c.Request.Context(), in); err != nil {
		msg, field := describe(err)
		abort(c, http.StatusBadRequest, msg, field)
		return
	}
	if b, ok := v.bodies[route.Operation]; ok && !b.validate(c) {
		return
	}
	c.Next()
}

// validate checks the request's JSON body and replaces it with the canonical copy the check
// returns (the keys the schema declares, exactly as validated), so that decoding it sees
// nothing the validator did not. It answers the request and returns false when the body is
// refused.
func (b bodySchema) validate(c *gin.Context) bool {
	if c.Request.Body == nil || c.Request.Body == http.NoBody {
		return b.empty(c)
	}
	// The head of the body is kept to name the migration of a refused announcement in the log
	// (when the body gives its id in the first 4 KB).
	head := &prefixWriter{max: 4 << 10}
	br := bufio.NewReader(io.TeeReader(c.Request.Body, head))
	if !hasContent(br) {
		if err := readErr(br); err != nil {
			return tooLargeOrUnreadable(c, err)
		}
		return b.empty(c)
	}
	if !isJSON(c.GetHeader("Content-Type")) {
		abort(c, http.StatusBadRequest, "request body must be JSON (Content-Type: application/json)", "")
		return false
	}
	var body io.Reader = br
	if n := c.Request.ContentLength; n > 0 {
		// The copy is allocated once; a body claiming more than its limit fails at the limit.
		body = sized{br, int(min(n, c.GetInt64(ctxLimit)))}
	}
	out, err := b.check.Check(body)
	if err != nil {
		if id := topLevelID(head.buf.Bytes()); id != "" {
			c.Set(ctxMigration, id)
		}
		var berr *jsonbody.Error
		if errors.As(err, &berr) {
			abort(c, http.StatusBadRequest, berr.Error(), berr.Field)
			return false
		}
		return tooLargeOrUnreadable(c, err)
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(out))
	c.Request.ContentLength = int64(len(out))
	c.Set(ctxBody, out) // decode reads it from here, without a copy
	return true
}

// sized tells the validator how long the body says it is, so that its copy is allocated once.
type sized struct {
	io.Reader
	n int
}

func (s sized) Len() int { return s.n }

// empty answers a request without a body: refused when the operation requires one.
func (b bodySchema) empty(c *gin.Context) bool {
	if b.required {
		abort(c, http.StatusBadRequest, "request body is required", "")
		return false
	}
	c.Request.Body = http.NoBody
	c.Request.ContentLength = 0
	return true
}

func tooLargeOrUnreadable(c *gin.Context, err error) bool {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		abort(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than the limit of %d bytes", tooLarge.Limit), "")
		return false
	}
	abort(c, http.StatusBadRequest, "could not read the request body: "+err.Error(), "")
	return false
}

// hasContent reports whether anything but JSON whitespace is left in br, leaving it unread.
func hasContent(br *bufio.Reader) bool {
	for {
		ch, err := br.ReadByte()
		if err != nil {
			return false
		}
		switch ch {
		case ' ', '\t', '\n', '\r':
			continue
		}
		_ = br.UnreadByte()
		return true
	}
}

// readErr is the error that ended br's input, nil at a plain end of input.
func readErr(br *bufio.Reader) error {
	if _, err := br.ReadByte(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// prefixWriter keeps the first max bytes written to it.
type prefixWriter struct {
	buf bytes.Buffer
	max int
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// topLevelID returns the string value of the "id" key of the JSON object that head starts,
// when head (perhaps cut short) reaches it; "" otherwise.
func topLevelID(head []byte) string {
	dec := json.NewDecoder(bytes.NewReader(head))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		if key == "id" {
			if v, err := dec.Token(); err == nil {
				if id, ok := v.(string); ok && len(id) <= 200 {
					return id
				}
			}
			return ""
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
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
