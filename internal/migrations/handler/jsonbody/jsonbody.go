// Package jsonbody validates JSON request bodies against OpenAPI 3.0 schemas while streaming,
// with memory bounded by the document it keeps rather than by a tree of interface{} values.
//
// Check reads a body token by token, refuses it at the first value that breaks the schema (or
// the limits beyond the schema), and returns a canonical copy of the body without the object
// properties that the schema does not declare. Decoding that copy with encoding/json therefore
// sees exactly what was validated: a key such as "METADATA" cannot reach a Metadata field through
// encoding/json's case-insensitive matching, because it is not in the copy.
//
// Two leniencies match what clients send and what encoding/json accepts:
//   - null for a property that the schema declares but neither requires nor makes nullable
//     stands for the property's absence (Jackson and pydantic send an unset optional field so):
//     it is left out of the copy and not counted for minProperties and maxProperties. null for
//     a required property, an array item or an additionalProperties value is refused.
//   - Strings, keys included, are decoded as encoding/json decodes them: a byte that is not part
//     of valid UTF-8, and a \u escape of an unpaired UTF-16 surrogate, become U+FFFD (one
//     character for minLength and maxLength), and the copy holds valid UTF-8.
//
// A key given twice is refused in every object that the copy keeps, also when the key is one
// the copy leaves out. Inside a value that is left out of the copy, keys are not compared: the
// decoder never sees such a value.
//
// Memory: a Check holds the copy it returns (at most the size of the body), one read buffer,
// per nesting level the current key, and for each open object that the copy keeps the keys it
// has given that the schema does not declare (held for duplicate detection; at most the size
// of the body). Strings are checked as they are read, so a string longer than its maxLength
// fails once maxLength+1 characters are held. A value left out of the copy (an undeclared
// property) is syntax-checked, bounded in depth and key length, and skipped without being kept
// or its keys held, so its size costs no memory. A string or number that the schema declares
// without a maxLength is held whole, so the caller's body limit bounds it.
package jsonbody

import (
	"fmt"
	"hash/maphash"
	"io"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// Limits are the bounds applied beyond the schema; a zero field means its default (32 levels,
// 256 characters).
type Limits struct {
	MaxDepth     int // nesting depth of arrays and objects; the document's own object is level 1
	MaxKeyLength int // characters (Unicode code points) of any object key
}

// Default limits, used for zero fields of Limits.
const (
	DefaultMaxDepth     = 32
	DefaultMaxKeyLength = 256
)

// Error is a body that Check refused: a value that breaks the schema or a limit, or a body that
// is not one valid JSON document.
type Error struct {
	Field  string // JSON path of the offending value, e.g. candidates[0].files[1].path, an empty key written "" (metadata.""); "" for the document itself
	Reason string // what is wrong, e.g. "is required", "must be of type string"
	Syntax bool   // the body is not valid JSON: empty, malformed or followed by more data
}

// Error renders the error for a person: `field "candidates[0].kind": is required`, `request body:
// must be of type object` for the document itself, `request body is not valid JSON: ...`.
func (e *Error) Error() string {
	switch {
	case e.Syntax:
		return "request body is not valid JSON: " + e.Reason
	case e.Field == "":
		return "request body: " + e.Reason
	}
	return fmt.Sprintf("field %q: %s", e.Field, e.Reason)
}

// Validator checks bodies against one compiled schema; it is safe for concurrent use.
type Validator struct {
	root *node
	lim  Limits
	pool sync.Pool // *checker
}

// Compile prepares a validator for schema, a resolved *openapi3.Schema (every $ref loaded). It
// fails on any keyword it does not implement (oneOf, anyOf, allOf, not, discriminator, format,
// default, readOnly, multipleOf, uniqueItems, ...), so that a change of the spec cannot silently
// weaken validation.
func Compile(schema *openapi3.Schema, lim Limits) (*Validator, error) {
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultMaxDepth
	}
	if lim.MaxKeyLength <= 0 {
		lim.MaxKeyLength = DefaultMaxKeyLength
	}
	c := compiler{nodes: map[*openapi3.Schema]*node{}}
	root, err := c.compile(schema, "")
	if err != nil {
		return nil, err
	}
	return &Validator{root: root, lim: lim}, nil
}

// Check reads one JSON document from r, validates it while streaming and returns a canonical copy
// of it without the object properties that the schema does not declare (nor null for an
// optional property, see the package comment). A refused body is an *Error; an error reading r
// is returned wrapped (so errors.As finds an *http.MaxBytesError).
func (v *Validator) Check(r io.Reader) ([]byte, error) {
	c, _ := v.pool.Get().(*checker)
	if c == nil {
		c = &checker{
			lim:    v.lim,
			frames: make([]frame, v.lim.MaxDepth+1),
			seed:   maphash.MakeSeed(),
		}
		c.s.buf = make([]byte, readBuffer)
	}
	c.s.reset(r)
	size := 512
	if l, ok := r.(interface{ Len() int }); ok { // bytes.Reader, strings.Reader, bytes.Buffer
		size = l.Len() + 1024
	}
	c.out = make([]byte, 0, size)
	out, err := c.document(v.root)
	c.release()
	v.pool.Put(c)
	return out, err
}
